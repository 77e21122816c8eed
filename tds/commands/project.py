"""`tds project`: run a projector (tds.entity.synced, tds.sync.runs, tds.deadletter →
PostgreSQL read models). Start several to share the partitions."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from tds import logs
from tds.metrics import Metrics, add_metrics_options, serve_metrics
from tds.retry import RetryPolicy
from tds.settings import Settings
from tds.signals import stop_on_signals

logger = logging.getLogger(__name__)


def add_topic_options(parser: argparse.ArgumentParser, *, all_topics: bool = True) -> None:
    """Options naming the topics and the schema (tests and side-by-side runs change them)."""
    from schemas.topics import DEADLETTER, ENTITY_SYNCED, SYNC_RUNS

    parser.add_argument("--entity-topic", default=ENTITY_SYNCED, metavar="TOPIC",
                        help=f"entity topic (default {ENTITY_SYNCED})")
    if all_topics:
        parser.add_argument("--sync-runs-topic", default=SYNC_RUNS, metavar="TOPIC",
                            help=f"sync-run topic (default {SYNC_RUNS}; '' to skip)")
        parser.add_argument("--deadletter-topic", default=DEADLETTER, metavar="TOPIC",
                            help=f"dead-letter topic (default {DEADLETTER}; '' to skip)")
    parser.add_argument("--schema", help="PostgreSQL schema of the read models "
                        "(default: the search_path)")


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser(
        "project", help="project Kafka events into the PostgreSQL read models",
        description="Consume tds.entity.synced, tds.sync.runs and tds.deadletter as one "
        "consumer group and write the read models; offsets are stored in the same "
        "PostgreSQL transaction as the rows (projection_offsets). SIGTERM finishes the "
        "batch in hand and leaves the group.")
    parser.add_argument("--group", default="tds-projector",
                        help="consumer group (default tds-projector)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="messages per transaction (default TDS_BATCH_SIZE)")
    parser.add_argument("--max-batch-size", type=int, default=5000,
                        help="while lagging, batches double up to this many messages "
                        "(default 5000; never below --batch-size)")
    parser.add_argument("--max-wait-ms", type=float, default=10.0,
                        help="longest wait to fill a batch (default 10 ms)")
    parser.add_argument("--retry-topic-prefix", default="",
                        help="prefix for retry and dead-letter topics this process writes "
                        "(tests isolate themselves with it)")
    parser.add_argument("--synchronous-commit", action="store_true",
                        help="wait for the WAL flush at each commit (not needed for "
                        "correctness: a lost commit loses its offsets too)")
    parser.add_argument("--instance-id", default=None,
                        help="static group membership id (group.instance.id): a restarted "
                        "process with the same id takes its partitions back at once")
    add_metrics_options(parser)
    add_topic_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Project until SIGTERM/SIGINT."""
    logs.configure(settings.log_level, settings.log_format, settings.secrets())
    return asyncio.run(_main(args, settings))


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    from projections import projector
    from projections.database import open_pool

    stop = stop_on_signals()
    pool = await open_pool(settings.dsn, schema=args.schema,
                           query_logging=settings.enable_query_logging,
                           synchronous_commit=args.synchronous_commit)
    metrics = Metrics.create()
    serve_metrics(args, metrics)
    prefix = args.retry_topic_prefix
    topics = projector.ProjectorTopics(args.entity_topic, args.sync_runs_topic,
                                       args.deadletter_topic)
    logger.info("projecting %s as group %s", ", ".join(topics.names()), args.group)
    try:
        done = await projector.run(
            pool=pool, bootstrap=settings.kafka, group=args.group, topics=topics,
            policy=RetryPolicy(settings.retry_delays_s), metrics=metrics,
            stop=stop, batch_size=args.batch_size or settings.batch_size,
            max_batch_size=args.max_batch_size, max_wait_s=args.max_wait_ms / 1000,
            topic_for=(lambda t: f"{prefix}{t}") if prefix else None,
            consumer_config={"group.instance.id": args.instance_id} if args.instance_id
            else None)
    finally:
        await pool.close()
    logger.info("projector stopped: %s changed, %s skipped",
                sum(done.totals.changed.values()), sum(done.totals.skipped.values()))
    return 0
