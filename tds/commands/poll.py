"""`tds poll`: the pollers (stock sync, incremental reconcile, full sync, manual runs).

Run any number of them: one holds the scheduler lock and fires the periodic runs, the
one holding the commands partition runs manual syncs, and a standby takes over within
seconds when either dies.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from producers.pollers.commands import CommandListener
from producers.pollers.config import PollerConfig, PollTopics
from producers.pollers.publisher import KafkaPublisher
from producers.pollers.runner import Poller
from producers.pollers.scheduler import Leadership, Scheduler
from producers.pollers.state import PgPollState
from producers.zoho import Priority, open_client
from schemas.topics import COMMANDS, RAW_BULK, SYNC_RUNS
from tds import postgres
from tds.kafka import consumer_config, producer_config
from tds.logs import configure
from tds.metrics import Metrics, add_metrics_options, serve_metrics
from tds.settings import Settings
from tds.signals import stop_on_signals

logger = logging.getLogger(__name__)

# Read models holding the ids TDS knows (projections/migrations/001x_*.sql): a full sync
# reports ids found here but no longer in Zoho as deletes.
KNOWN_ID_TABLES: dict[str, tuple[str, str]] = {
    "item": ("items", "item_id"),
    "contact": ("contacts", "contact_id"),
    "salesorder": ("sales_orders", "salesorder_id"),
    "invoice": ("invoices", "invoice_id"),
    "customerpayment": ("customer_payments", "payment_id"),
    "creditnote": ("credit_notes", "creditnote_id"),
    "bill": ("bills", "bill_id"),
    "vendorpayment": ("vendor_payments", "payment_id"),
    "location": ("locations", "location_id"),
}


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("poll", help="run the Zoho pollers (stock, reconcile, full sync, "
                            "manual runs) with one scheduler per cluster")
    add_metrics_options(parser)
    parser.add_argument("--once", choices=("stock", "incremental", "full"),
                        help="run one run of this kind now, print its result and exit")
    parser.add_argument("--entity-types", default="",
                        help="comma-separated entity types for --once (default: all)")
    parser.add_argument("--raw-topic", default=RAW_BULK, help="default: %(default)s")
    parser.add_argument("--runs-topic", default=SYNC_RUNS, help="default: %(default)s")
    parser.add_argument("--commands-topic", default=COMMANDS, help="default: %(default)s")
    parser.add_argument("--group", default="tds-pollers",
                        help="consumer group reading commands (default: %(default)s)")
    parser.add_argument("--overlap-s", type=float, default=300.0,
                        help="reconcile re-reads this far behind its cursor "
                             "(default: %(default)s)")
    parser.add_argument("--tick-s", type=float, default=1.0,
                        help="scheduler and lock check period (default: %(default)s)")
    parser.add_argument("--heartbeat-s", type=float, default=10.0,
                        help="run heartbeat period (default: %(default)s)")
    parser.add_argument("--stale-after-s", type=float, default=90.0,
                        help="a run silent this long belongs to a dead poller "
                             "(default: %(default)s)")
    parser.set_defaults(handler=run)


def known_ids_from(pool: asyncpg.Pool, org_id: str) -> Any:
    """`known_ids(entity_type)`: the ids a read model holds (none if it does not exist)."""

    async def known_ids(entity_type: str) -> AsyncIterator[str]:
        table = KNOWN_ID_TABLES.get(entity_type)
        if table is None:
            return
        name, column = table
        async with pool.acquire() as conn, conn.transaction():
            try:
                async for row in conn.cursor(
                        f'SELECT "{column}" FROM "{name}" WHERE org_id = $1', org_id):
                    yield str(row[0])
            except asyncpg.UndefinedTableError:
                logger.warning("read model %s does not exist yet: no deletes for %s", name,
                               entity_type)

    return known_ids


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Build everything and run until SIGINT/SIGTERM (or once)."""
    metrics = Metrics.create()
    serve_metrics(args, metrics)
    topics = PollTopics(raw=args.raw_topic, runs=args.runs_topic, commands=args.commands_topic)
    config = PollerConfig.from_settings(
        settings, group=args.group, overlap_s=args.overlap_s, tick_s=args.tick_s,
        heartbeat_s=args.heartbeat_s, stale_after_s=args.stale_after_s)
    pool = await postgres.create_pool(settings.dsn, min_size=1, max_size=4)
    try:
        publisher = KafkaPublisher(producer_config(settings.kafka, **{"client.id": "tds-poll"}),
                                   metrics=metrics)
        # Each run takes the budget class of its kind (`Poller.execute`); FULL is a floor.
        async with open_client(settings, metrics=metrics, pool=pool,
                               priority=Priority.FULL) as zoho, publisher:
            state = PgPollState(pool)
            poller = Poller(config=config, topics=topics, zoho=zoho, sink=publisher,
                            state=state, known_ids=known_ids_from(pool, config.org_id),
                            metrics=metrics)
            if args.once:
                types = [t for t in args.entity_types.split(",") if t.strip()]
                record = await poller.run_now(args.once, entity_types=types)
                print(f"run {record.run_id} {record.status}: seen {record.seen}, "
                      f"sent {record.sent}, deleted {record.deleted}"
                      + (f"; {record.error}" if record.error else ""))
                return 0 if record.status == "completed" else 1
            stop = stop_on_signals()
            scheduler = Scheduler(
                leadership=Leadership(settings.dsn, name=config.org_id, owner=config.owner),
                state=state, config=config, periodic=poller.periodic(),
                on_stale=poller.report_stale)
            listener = CommandListener(
                consumer_config(settings.kafka, config.group,
                                **{"client.id": f"tds-poll-{config.owner}"}),
                topics.commands, poller.handle_command)
            logger.info("poller %s up (auto sync %s)", config.owner,
                        "on" if config.auto_sync else "off")
            await poller.serve(stop, scheduler.run(stop), listener.run(stop))
            return 0
    finally:
        await pool.close()


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of `tds poll`."""
    configure(settings.log_level, settings.log_format, settings.secrets())
    return asyncio.run(serve(args, settings))
