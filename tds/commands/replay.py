"""`tds replay`: rebuild read models from tds.entity.synced and swap them in atomically."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from tds import logs
from tds.settings import Settings


def when(text: str) -> datetime:
    """An ISO-8601 time (UTC when no zone is given)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 time (e.g. 2025-01-31T12:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_rebuild_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by replay and verify."""
    from tds.commands.project import add_topic_options

    parser.add_argument("--model", action="append", dest="models", metavar="NAME",
                        help="read model to rebuild (repeatable; default: all): items, stock, "
                        "locations, contacts, sales_orders, invoices, credit_notes, "
                        "customer_payments, bills, vendor_payments")
    parser.add_argument("--group", default="tds-projector",
                        help="the live projector's group, whose offsets the rebuild matches")
    parser.add_argument("--batch-size", type=int, default=5000,
                        help="events per transaction while rebuilding (default 5000)")
    add_topic_options(parser, all_topics=False)


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser(
        "replay", help="rebuild read models from the log and swap them in",
        description="Build fresh tables from the start of tds.entity.synced (or --since) "
        "while live traffic continues, catch up with the live projector, check that they "
        "equal the live tables (checksums, when built from the start) and swap them in "
        "with one transaction. A progress bar on stderr shows events and rate.")
    add_rebuild_options(parser)
    parser.add_argument("--since", type=when, metavar="TIME",
                        help="build from this time instead of the start (rows whose last "
                        "event is older are then missing; no checksum comparison)")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the checksum comparison before the swap")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild, compare, swap; print what happened."""
    logs.configure(settings.log_level, settings.log_format, settings.secrets())
    report = asyncio.run(rebuild(args, settings, swap=True, check=not args.no_check,
                                 since=args.since))
    print_report(report)
    return 0


async def rebuild(args: argparse.Namespace, settings: Settings, *, swap: bool, check: bool,
                  since: datetime | None = None) -> Any:
    """Run one rebuild with the command's options."""
    from projections.catalog import select
    from projections.database import open_pool
    from projections.rebuild import Rebuild

    pool = await open_pool(settings.dsn, schema=args.schema,
                           query_logging=settings.enable_query_logging,
                           synchronous_commit=False)
    try:
        job = Rebuild(pool=pool, bootstrap=settings.kafka, topic=args.entity_topic,
                      group=args.group, models=select(args.models),
                      batch_size=args.batch_size)
        return await job.run(since=since, swap=swap, check=check)
    finally:
        await pool.close()


def print_report(report: Any) -> None:
    """Print a rebuild report to stdout."""
    print(f"models: {', '.join(report.models)}")
    print(f"events: {report.events:,} in {report.seconds:.1f}s ({report.rate:,.0f} ev/s); "
          f"rejected: {report.rejected}")
    print("offsets: " + ", ".join(f"{p}:{o}" for p, o in sorted(report.offsets.items())))
    for check in report.checks:
        state = "identical" if check.identical else "DIFFERENT"
        print(f"  {check.live.table:<32} live {check.live.rows:>9,} {check.live.digest}  "
              f"rebuilt {check.rebuilt.rows:>9,} {check.rebuilt.digest}  {state}")
    if report.checks:
        print("identical" if report.identical else "DIFFERENT")
    elif not report.comparable:
        print("not compared: the live projector is not at the same offsets", file=sys.stderr)
    if report.swapped:
        print("swapped in")
