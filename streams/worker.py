"""Run one stream worker process: check topics, build the app, hand the loop to faust."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NoReturn

import faust

from streams.app import StreamsApp
from streams.config import StreamsConfig
from streams.fetch import LazyFetcher, RecordFetcher
from streams.topics import checked
from tds.metrics import Metrics

logger = logging.getLogger(__name__)


def build(config: StreamsConfig, *, fetcher: RecordFetcher,
          metrics: Metrics | None = None) -> StreamsApp:
    """The app for `config` after checking its topics on the broker."""
    config = checked(config)
    streams = StreamsApp(config, fetcher=fetcher, metrics=metrics)
    if isinstance(fetcher, LazyFetcher):
        async def close_fetcher(app: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
            await fetcher.aclose()

        streams.app.on_before_shutdown.connect(close_fetcher)
    return streams


def run(streams: StreamsApp) -> NoReturn:
    """Run the faust worker until SIGTERM/SIGINT (faust exits the process)."""
    logger.info("worker %s: %s → %s (%s, store %s)", streams.config.app_id,
                ", ".join((streams.config.realtime_topic, streams.config.bulk_topic)),
                streams.config.synced_topic, streams.config.processing_guarantee,
                streams.config.store)
    Path(streams.app.conf.datadir).mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(streams.app, quiet=True, override_logging=False,
                          redirect_stdouts=False)
    worker.execute_from_commandline()
