"""Run the faust engine in a process: faust's Worker, with a drain before it stops.

On SIGTERM or SIGINT the worker first pauses its partitions, lets the agents hand over
what they hold and takes a last checkpoint (outputs, state, acks), so faust's final
commit covers every event processed; only then does faust's own shutdown run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import faust

from streams.faust_app import FaustEngine
from streams.worker import freeze_startup_objects

logger = logging.getLogger(__name__)


class DrainingWorker(faust.Worker):
    """faust.Worker whose stop signals drain the engine first."""

    def __init__(self, engine: FaustEngine, **kwargs: Any) -> None:
        super().__init__(engine.app, **kwargs)
        self.engine = engine
        self._draining = False

    def _on_sigterm(self) -> None:
        self._drain_then(super()._on_sigterm)

    def _on_sigint(self) -> None:
        self._drain_then(super()._on_sigint)

    def _drain_then(self, stop: Callable[[], None]) -> None:
        if self._draining:
            return
        self._draining = True
        logger.info("stop signal: last checkpoint, then stopping")

        async def drain() -> None:
            try:
                await drain_engine(self.engine)
            finally:
                stop()

        self.add_future(drain())


async def drain_engine(engine: FaustEngine, timeout_s: float = 5.0) -> None:
    """Stop input, wait until every delivered event was processed, checkpoint (the
    realtime events read outside faust included: their offsets are committed by it).

    Not faust's `pause_partitions`: it drops the records of a fetch in progress, which then
    stay unprocessed (and unacked) until the drain gives up."""
    consumer: Any = engine.app.consumer
    engine.stop_input()
    await engine.stop_realtime()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            await engine.checkpoint()
            # faust's set of messages handed to agents and not yet acked: ours are acked
            # by the checkpoint, so what is left is still in an agent's buffer.
            if not consumer._unacked_messages:
                return
            await asyncio.sleep(0.05)
        held: dict[str, list[int]] = {}
        for message in list(consumer._unacked_messages):
            held.setdefault(f"{message.tp.topic}[{message.tp.partition}]", []).append(
                message.offset)
        logger.warning("stopping with %d events not processed: the next owner replays them "
                       "(%s)", len(consumer._unacked_messages),
                       ", ".join(f"{tp} offsets {min(o)}-{max(o)}"
                                 for tp, o in sorted(held.items())))
    finally:
        engine.realtime.close()


def run(engine: FaustEngine) -> int:
    """Run until SIGTERM/SIGINT; the exit code is faust's (non-zero after a crash)."""
    config = engine.config
    logger.info("worker %s (faust): %s → %s (%s)", config.app_id,
                ", ".join((config.realtime_topic, config.bulk_topic)), config.synced_topic,
                config.processing_guarantee)
    if logging.getLogger().level > logging.DEBUG:
        # faust, mode and aiokafka log every service start and stop at INFO.
        for name in ("faust", "mode", "aiokafka"):
            logging.getLogger(name).setLevel(logging.WARNING)
    worker = DrainingWorker(engine, loglevel=logging.getLevelName(logging.getLogger().level),
                            override_logging=False, redirect_stdouts=False, quiet=True)
    freeze_startup_objects()
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0
