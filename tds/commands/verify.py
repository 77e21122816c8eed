"""`tds verify`: prove the read models equal what the log says (checksums)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from tds import logs
from tds.settings import Settings


def register(sub: Any) -> None:
    """Add the subcommand."""
    from tds.commands.replay import add_rebuild_options

    parser = sub.add_parser(
        "verify", help="check the read models against a rebuild from the log",
        description="Rebuild the read models into scratch tables from the start of "
        "tds.entity.synced, stop the live projector at its current offsets for a moment, "
        "and compare checksums of every table (row for row). Exit 0 when identical. "
        "With --checksums, only print the live tables' checksums (to compare databases).")
    add_rebuild_options(parser)
    parser.add_argument("--checksums", action="store_true",
                        help="only print checksums of the live tables")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Compare and report; 1 when a table differs or could not be compared."""
    logs.configure(settings.log_level, settings.log_format, settings.secrets())
    if args.checksums:
        return asyncio.run(_checksums(args, settings))
    from tds.commands.replay import print_report, rebuild

    report = asyncio.run(rebuild(args, settings, swap=False, check=True))
    print_report(report)
    return 0 if report.checks and report.identical else 1


async def _checksums(args: argparse.Namespace, settings: Settings) -> int:
    from projections.catalog import select
    from projections.checksum import checksum
    from projections.database import open_pool

    pool = await open_pool(settings.dsn, schema=args.schema)
    try:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            for model in select(args.models):
                for table in model.tables:
                    found = await checksum(conn, table)
                    print(f"{found.table:<32} {found.rows:>10,} {found.digest}")
    finally:
        await pool.close()
    return 0
