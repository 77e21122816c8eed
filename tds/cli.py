"""The `tds` command: one subcommand per process type or operator task.

Each subcommand lives in `tds/commands/<name>.py` with `register(subparsers)`; this
module only loads the environment, builds the parser and dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from tds.errors import SettingsError, TDSError
from tds.settings import Settings, find_services_env, load_env_file

# Module names under tds.commands, in the order `tds --help` lists them.
COMMANDS = ("migrate", "topics")

Handler = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="tds",
        description="TSH Data Sync: Zoho Books/Inventory → Kafka → PostgreSQL read models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"tds.commands.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    services = find_services_env()
    if services is not None:
        load_env_file(services)  # only fills variables the caller has not set
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        settings = Settings.from_env()
        return handler(args, settings)
    except SettingsError as exc:
        print(f"tds {args.command}: {exc}", file=sys.stderr)
        return 2
    except TDSError as exc:
        print(f"tds {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
