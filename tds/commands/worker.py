"""`tds worker`: one stream worker process (raw events → tds.entity.synced)."""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

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
    parser.add_argument("--guarantee", choices=("at_least_once", "exactly_once"),
                        default="at_least_once",
                        help="processing guarantee: exactly_once commits each checkpoint's "
                             "outputs, state and offsets in one Kafka transaction")
    parser.add_argument("--store", default=None,
                        help="ignored (kept for old scripts): state is held in memory and "
                             "restored from its changelog topic")
    parser.add_argument("--data-dir", default=None,
                        help="ignored (kept for old scripts), as --store")
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
    metrics = Metrics.create()
    engine = build(config, fetcher=_fetcher(args, settings), metrics=metrics)
    serve_metrics(args, metrics)
    return run_worker(engine)
