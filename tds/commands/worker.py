"""`tds worker`: one stream worker process (raw events → tds.entity.synced)."""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from tds.errors import TDSError
from tds.logs import configure
from tds.metrics import Metrics, add_metrics_options, serve_metrics
from tds.settings import Settings

logger = logging.getLogger(__name__)

_ZOHO_CLIENT = "producers.zoho:open_client"


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("worker", help="run a stream worker: raw → tds.entity.synced")
    parser.add_argument("--app-id", default="tds-streams",
                        help="consumer group and prefix of the worker's internal topics")
    parser.add_argument("--engine", choices=("faust", "batched"), default=None,
                        help="what hosts the pipeline: faust agents or the batched "
                             "confluent-kafka loop (default: TDS_STREAM_ENGINE, faust)")
    parser.add_argument("--guarantee", choices=("at_least_once", "exactly_once"),
                        default="at_least_once",
                        help="processing guarantee: exactly_once (batched engine only) commits "
                             "each checkpoint's outputs, state and offsets in one Kafka "
                             "transaction")
    parser.add_argument("--store", default=None, choices=("memory://", "rocksdb://"),
                        help="faust engine: where its tables live between checkpoints "
                             "(default memory://, rebuilt from the changelogs at start; "
                             "rocksdb:// keeps them on disk and reads only what is new)")
    parser.add_argument("--data-dir", default=None, type=Path,
                        help="faust engine: folder of the rocksdb:// tables "
                             "(default .tds/faust)")
    parser.add_argument("--batch-max", type=int, default=None,
                        help="most messages processed per batch (default 1000)")
    parser.add_argument("--max-downstream-lag", type=int, default=None, metavar="MESSAGES",
                        help="pause bulk input while the projector group lags more than this "
                             "on the synced topic, so realtime events do not queue behind a "
                             "backfill there (default 2000; 0: never)")
    parser.add_argument("--downstream-group", default=None,
                        help="the group whose lag --max-downstream-lag watches "
                             "(default tds-projector)")
    parser.add_argument("--commit-interval", type=float, default=None, metavar="SECONDS",
                        help="checkpoint period: outputs, state, offsets (default 1)")
    parser.add_argument("--run-idle-timeout", type=float, default=None, metavar="SECONDS",
                        help="close a sync run as failed after this long without events")
    parser.add_argument("--session-timeout", type=float, default=None, metavar="SECONDS",
                        help="consumer session timeout: how soon a dead worker's partitions "
                             "move (default 10)")
    add_metrics_options(parser)
    parser.add_argument("--fetcher", default=None, metavar="MODULE:CALLABLE",
                        help="factory(settings) of an async context manager yielding the "
                             "Zoho record fetcher (default: the Zoho client when configured)")
    topics = parser.add_argument_group("topics (defaults: the catalogue's names)")
    for name in ("realtime", "bulk", "synced", "sync-runs", "deadletter"):
        topics.add_argument(f"--{name}-topic", default=None)
    topics.add_argument("--retry-prefix", default=None, help="retry topics are PREFIX1..PREFIXN")
    parser.set_defaults(handler=run)


def _factory(spec: str) -> Callable[[Settings], AbstractAsyncContextManager[Any]]:
    module, _, name = spec.partition(":")
    factory: Callable[[Settings], AbstractAsyncContextManager[Any]] = getattr(
        importlib.import_module(module), name or "open_client")
    return factory


def _fetcher(args: argparse.Namespace, settings: Settings) -> Any:
    from streams.fetch import LazyFetcher, NoFetcher

    spec = args.fetcher
    if spec is None:
        if not (settings.zoho_client_id and settings.zoho_refresh_token):
            logger.warning("no Zoho credentials: ping events (id only) will be retried, "
                           "then dead-lettered")
            return NoFetcher()
        spec = _ZOHO_CLIENT  # imported here: only the command may wire stages together
    factory = _factory(spec)
    return LazyFetcher(lambda: factory(settings))


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Build the worker from the settings and the options, then run it until stopped."""
    from streams.config import StreamsConfig
    from streams.worker import build
    from streams.worker import run as run_worker

    configure(settings.log_level, settings.log_format, settings.secrets())
    config = StreamsConfig.from_settings(
        settings,
        app_id=args.app_id,
        processing_guarantee=args.guarantee,
        batch_max=args.batch_max,
        commit_interval_s=args.commit_interval,
        max_downstream_lag=args.max_downstream_lag,
        downstream_group=args.downstream_group,
        run_idle_timeout_s=args.run_idle_timeout,
        session_timeout_s=args.session_timeout,
        realtime_topic=args.realtime_topic,
        bulk_topic=args.bulk_topic,
        synced_topic=args.synced_topic,
        sync_runs_topic=args.sync_runs_topic,
        deadletter_topic=args.deadletter_topic,
        retry_prefix=args.retry_prefix,
    )
    engine_kind = args.engine or settings.stream_engine
    refusal = _refusal(engine_kind, args, settings)
    if refusal:
        raise TDSError(refusal)
    metrics = Metrics.create()
    serve_metrics(args, metrics)
    if engine_kind == "batched":
        return run_worker(build(config, fetcher=_fetcher(args, settings), metrics=metrics))
    from streams.faust_worker import run as run_faust
    from streams.worker import build_faust

    data_dir = args.data_dir or Path(".tds/faust")
    data_dir.mkdir(parents=True, exist_ok=True)  # faust makes only the last level
    engine = build_faust(config, fetcher=_fetcher(args, settings), metrics=metrics,
                         store=args.store or "memory://", data_dir=data_dir,
                         concurrency=settings.worker_threads)
    return run_faust(engine)


def _refusal(engine: str, args: argparse.Namespace, settings: Settings) -> str | None:
    """Why these options cannot run on `engine` (and what to use instead), if they can't."""
    if engine == "batched":
        if args.store or args.data_dir:
            return ("--store and --data-dir apply to the faust engine; the batched engine "
                    "keeps its state in memory and restores it from the changelog topics")
        if settings.worker_threads > 1:
            return ("TDS_WORKER_THREADS > 1 applies to the faust engine (agent concurrency); "
                    "the batched engine runs one loop per process: scale it with "
                    "TDS_WORKER_COUNT or `tds up --workers N`")
        return None
    if args.guarantee == "exactly_once":
        return ("--guarantee exactly_once is offered by the batched engine only "
                "(--engine batched): the faust engine's outputs and offsets are not one "
                "Kafka transaction")
    if args.data_dir and args.store != "rocksdb://":
        return "--data-dir holds rocksdb:// tables: add --store rocksdb://"
    return None
