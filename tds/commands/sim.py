"""`tds sim`: run the Zoho simulator (options are the simulator's own)."""

from __future__ import annotations

import argparse
from typing import Any

from tds.settings import Settings


def register(sub: Any) -> None:
    """Add the subcommand; everything after `sim` goes to the simulator's parser."""
    parser = sub.add_parser("sim", help="run the Zoho Books/Inventory simulator",
                            add_help=False)
    parser.set_defaults(handler=run, uses_kafka=False, passthrough=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Hand over to simulator.cli."""
    from simulator.cli import main

    code: int = main(args.extra)
    return code
