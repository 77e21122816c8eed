"""Run one stream worker process: check topics, build the engine, run it until stopped."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from pathlib import Path
from types import FrameType

from streams.backpressure import DownstreamGate
from streams.config import StreamsConfig
from streams.engine import Engine
from streams.faust_app import FaustEngine
from streams.fetch import LazyFetcher, RecordFetcher
from streams.topics import checked
from tds.metrics import Metrics

logger = logging.getLogger(__name__)


def _gate(config: StreamsConfig) -> DownstreamGate | None:
    if config.max_downstream_lag <= 0:
        return None
    return DownstreamGate.create(config.bootstrap, group=config.downstream_group,
                                 topic=config.synced_topic, partitions=config.partitions,
                                 max_lag=config.max_downstream_lag)


def build(config: StreamsConfig, *, fetcher: RecordFetcher,
          metrics: Metrics | None = None) -> Engine:
    """The batched engine for `config` after checking (and completing) its topics."""
    config = checked(config)
    return Engine(config, fetcher=fetcher, metrics=metrics, gate=_gate(config))


def build_faust(config: StreamsConfig, *, fetcher: RecordFetcher, metrics: Metrics | None = None,
                store: str = "memory://", data_dir: Path | None = None,
                concurrency: int = 1) -> FaustEngine:
    """The faust engine for `config` after checking (and completing) its topics."""
    config = checked(config)
    return FaustEngine(config, fetcher=fetcher, metrics=metrics, gate=_gate(config),
                       store=store, data_dir=data_dir, concurrency=concurrency)


async def _serve(engine: Engine) -> None:
    fetcher = engine.processor.fetcher
    try:
        await engine.run()
    finally:
        if isinstance(fetcher, LazyFetcher):
            await fetcher.aclose()


def run(engine: Engine) -> int:
    """Run until SIGTERM/SIGINT; the last checkpoint is taken before the process ends."""
    config = engine.config
    logger.info("worker %s: %s → %s (%s)", config.app_id,
                ", ".join((config.realtime_topic, config.bulk_topic)), config.synced_topic,
                config.processing_guarantee)

    def stop(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d: stopping after this batch", signum)
        engine.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    freeze_startup_objects()
    asyncio.run(_serve(engine))
    return 0


def freeze_startup_objects() -> None:
    """Keep what start-up made (modules, both engines' libraries, the engine) out of the
    garbage collector's full passes: each one walked all of it, ~0.1 s during which no
    webhook was served (measured behind a backlog)."""
    gc.collect()
    gc.freeze()
