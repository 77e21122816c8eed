"""`tds writer`: apply write-back commands (tds.outbound) in Zoho, once each."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tds import logs
from tds.metrics import add_metrics_options
from tds.settings import Settings
from tds.signals import stop_on_signals

if TYPE_CHECKING:
    from producers.zoho import ZohoClient

logger = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add the subcommand."""
    from schemas.topics import OUTBOUND, OUTBOUND_RESULTS, RAW_REALTIME

    parser = sub.add_parser(
        "writer", help="apply write-back commands (tds.outbound) in Zoho, once each",
        description="Consume tds.outbound (group tds-writer; start several to share the "
        "partitions) and apply each command in Zoho through the shared client and budget, "
        "exactly once per command_id (state in outbound_commands). Results go to "
        "tds.outbound.results, written records to zoho.raw.realtime.")
    parser.add_argument("--group", default="tds-writer", help="consumer group")
    parser.add_argument("--outbound-topic", default=OUTBOUND, metavar="TOPIC")
    parser.add_argument("--results-topic", default=OUTBOUND_RESULTS, metavar="TOPIC")
    parser.add_argument("--raw-topic", default=RAW_REALTIME, metavar="TOPIC",
                        help="where written records are fed back (default zoho.raw.realtime)")
    parser.add_argument("--retry-topic-prefix", default="",
                        help="prefix for retry and dead-letter topics this process writes "
                        "(tests isolate themselves with it)")
    parser.add_argument("--schema", help="PostgreSQL schema (default: the search_path)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="commands per batch (default TDS_BATCH_SIZE)")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="commands of different records in flight (default 4)")
    parser.add_argument("--per-minute", type=int, default=100,
                        help="the organization's Zoho requests per minute (default 100, "
                        "Zoho's limit); every TDS process shares it through PostgreSQL")
    add_metrics_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run until SIGTERM/SIGINT."""
    for name in ("concurrency", "per_minute"):
        if getattr(args, name) < 1:
            raise SystemExit(f"tds writer: --{name.replace('_', '-')} must be at least 1")
    logs.configure(settings.log_level, settings.log_format, settings.secrets())
    return asyncio.run(_main(args, settings))


class ZohoWrites:
    """The writer's port onto the shared Zoho client: its errors become the writer's."""

    def __init__(self, client: ZohoClient) -> None:
        self._client = client

    @property
    def organization_id(self) -> str:
        """The organization the client serves (ZOHO_ORGANIZATION_ID)."""
        return self._client.organization_id

    async def call(self, method: str, product: str, path: str, *,
                   body: Mapping[str, Any] | None = None,
                   params: Mapping[str, str] | None = None,
                   endpoint: str) -> dict[str, Any]:
        """One call; ZohoRefused for a 4xx, ZohoUnavailable for what may pass."""
        from consumers.outbound.port import ZohoRefused, ZohoUnavailable
        from producers.zoho.errors import ZohoError

        try:
            answer = await self._client.request(product, path, params, endpoint=endpoint,
                                                method=method, body=body)
        except ZohoError as exc:
            if exc.retriable or exc.status is None or exc.status >= 500 or exc.status == 429:
                raise ZohoUnavailable(str(exc)) from exc
            raise ZohoRefused(exc.zoho_message or exc.message, status=exc.status,
                              code=exc.code) from exc
        return answer.envelope or {}


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    from confluent_kafka import Producer

    from consumers.batching import BatchingConsumer
    from consumers.failures import FailureRouter
    from consumers.offsets import PgOffsetStore
    from consumers.outbound.writer import STAGE, OutboundWriter
    from producers.zoho import ClientOptions, Priority, open_client
    from projections.database import open_pool
    from tds.kafka import producer_config
    from tds.kafka_publisher import Publisher
    from tds.metrics import Metrics, serve_metrics
    from tds.retry import RetryPolicy

    stop = stop_on_signals()
    metrics = Metrics.create()
    serve_metrics(args, metrics)
    # Each command in flight holds one connection (its lock) and borrows another.
    pool = await open_pool(settings.dsn, schema=args.schema, max_size=2 * args.concurrency + 1,
                           query_logging=settings.enable_query_logging)
    producer = Producer(producer_config(settings.kafka))
    prefix = args.retry_topic_prefix
    router = FailureRouter(producer=producer, policy=RetryPolicy(settings.retry_delays_s),
                           group=args.group, stage=STAGE, metrics=metrics,
                           topic_for=lambda topic: f"{prefix}{topic}")
    publisher = Publisher.create(producer_config(settings.kafka,
                                                 **{"client.id": "tds-writer"}),
                                 metrics=metrics)
    # Write-backs spend the org's one budget (shared through PostgreSQL) in its top
    # class, with webhook pings: a backfill never holds an ERP change back.
    options = ClientOptions(per_minute=args.per_minute)
    try:
        async with open_client(settings, metrics=metrics, pool=pool, options=options,
                               priority=Priority.REALTIME) as zoho, \
                publisher:
            writer = OutboundWriter(pool=pool, zoho=ZohoWrites(zoho), publisher=publisher,
                                    router=router, metrics=metrics, group=args.group,
                                    results_topic=args.results_topic,
                                    raw_topic=args.raw_topic, concurrency=args.concurrency)
            consumer = BatchingConsumer(
                bootstrap=settings.kafka, group=args.group, topics=[args.outbound_topic],
                store=PgOffsetStore(pool, args.group), handler=writer.handle,
                batch_size=args.batch_size or settings.batch_size, metrics=metrics)
            logger.info("writer on %s (group %s) → Zoho; results to %s", args.outbound_topic,
                        args.group, args.results_topic)
            await consumer.run(stop)
    finally:
        await asyncio.to_thread(producer.flush, 10)
        await pool.close()
    return 0
