"""`tds migrate`: apply the numbered SQL migrations."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from tds.migrate import apply
from tds.settings import Settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "projections" / "migrations"


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("migrate", help="apply pending SQL migrations (safe to repeat)")
    parser.add_argument("--schema", help="PostgreSQL schema to migrate (default: search_path)")
    parser.set_defaults(handler=run, uses_kafka=False)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Apply and report."""
    done = asyncio.run(apply(settings.dsn, MIGRATIONS, schema=args.schema))
    if done:
        for migration in done:
            print(f"applied {migration.number:04d}_{migration.name}")
    else:
        print("database is up to date")
    return 0
