"""The `tds` command: one subcommand per process type or operator task.

Each subcommand lives in `tds/commands/<name>.py` with `register(subparsers)` (found by
listing the package, so stages add commands without editing this file); this module only
loads the environment, builds the parser and dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence

import tds.commands
from tds.errors import SettingsError, TDSError
from tds.kafka import use_security, verify_login
from tds.settings import Settings, find_services_env, load_env_file


def command_names() -> list[str]:
    """Every module under tds.commands: adding a file adds a subcommand."""
    return sorted(m.name for m in pkgutil.iter_modules(tds.commands.__path__))

Handler = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="tds",
        description="TSH Data Sync: Zoho Books/Inventory → Kafka → PostgreSQL read models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in command_names():
        module = importlib.import_module(f"tds.commands.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    services = find_services_env()
    if services is not None:
        load_env_file(services)  # only fills variables the caller has not set
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    handler: Handler = args.handler
    try:
        settings = Settings.from_env()
        use_security(settings.kafka_security)
        if (settings.kafka_security.protocol != "PLAINTEXT" and settings.kafka_bootstrap_servers
                and getattr(args, "uses_kafka", True)):
            verify_login(settings.kafka_bootstrap_servers)  # fail fast on a refused login
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
