"""`tds images`: keep the item image cache (TDS_IMAGE_DIR, table item_images) current."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from tds import logs
from tds.metrics import add_metrics_options
from tds.settings import Settings
from tds.signals import stop_on_signals

logger = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add the subcommand."""
    from schemas.topics import ENTITY_SYNCED

    parser = sub.add_parser(
        "images", help="download new or changed item images into TDS_IMAGE_DIR",
        description="Consume item upserts from tds.entity.synced (group tds-images); when "
        "an item's image is new or changed, fetch it through the Zoho client into the "
        "content-addressed TDS_IMAGE_DIR and record path and hash in item_images "
        "(shown on the `products` view). Unchanged images are not fetched again.")
    parser.add_argument("--group", default="tds-images", help="consumer group")
    parser.add_argument("--entity-topic", default=ENTITY_SYNCED, metavar="TOPIC")
    parser.add_argument("--schema", help="PostgreSQL schema (default: the search_path)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="messages per transaction (default TDS_BATCH_SIZE)")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="image downloads in flight (default 4)")
    add_metrics_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run until SIGTERM/SIGINT."""
    logs.configure(settings.log_level, settings.log_format, settings.secrets())
    return asyncio.run(_main(args, settings))


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    from confluent_kafka import Producer

    from consumers.batching import BatchingConsumer
    from consumers.failures import FailureRouter
    from consumers.images import STAGE, ImageCache, ImageStore
    from consumers.offsets import PgOffsetStore
    from producers.zoho import Priority, open_client
    from projections.database import open_pool
    from tds.kafka import producer_config
    from tds.metrics import Metrics, serve_metrics
    from tds.retry import RetryPolicy

    stop = stop_on_signals()
    metrics = Metrics.create()
    serve_metrics(args, metrics)
    pool = await open_pool(settings.dsn, schema=args.schema,
                           query_logging=settings.enable_query_logging)
    producer = Producer(producer_config(settings.kafka))
    router = FailureRouter(producer=producer, policy=RetryPolicy(settings.retry_delays_s),
                           group=args.group, stage=STAGE, metrics=metrics)
    try:
        async with open_client(settings, metrics=metrics, pool=pool,
                               priority=Priority.IMAGES) as zoho:
            cache = ImageCache(pool=pool, source=zoho, store=ImageStore(settings.image_path),
                               router=router, metrics=metrics, group=args.group,
                               concurrency=args.concurrency)
            consumer = BatchingConsumer(
                bootstrap=settings.kafka, group=args.group, topics=[args.entity_topic],
                store=PgOffsetStore(pool, args.group), handler=cache.handle,
                batch_size=args.batch_size or settings.batch_size, metrics=metrics)
            logger.info("image cache on %s (group %s) into %s", args.entity_topic,
                        args.group, settings.image_path)
            await consumer.run(stop)
    finally:
        await asyncio.to_thread(producer.flush, 10)
        await pool.close()
    return 0
