"""Sending from inside an agent, so that exactly_once really covers our outputs.

faust's exactly_once picks a message's transaction by the *destination* partition of a
topic the app consumes; `tds.entity.synced`, the retry topics and `tds.sync.runs` are
not consumed by this app, so faust would send them outside any transaction (we checked:
only the table changelog went through a transactional producer). Here every output of an
event goes through the transactional producer of the event's *source* partition, the one
whose offsets faust commits in that transaction, so outputs, changelog writes and
offsets become visible to `read_committed` readers together or not at all.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import faust
from faust.types import TP

from schemas.cloudevents import Headers

logger = logging.getLogger(__name__)


class Emitter:
    """Sends raw bytes through the faust app's producer (transactionally when asked)."""

    def __init__(self, app: faust.App, *, exactly_once: bool) -> None:
        self._app = app
        self._exactly_once = exactly_once
        self._crashing: set[asyncio.Future[Any]] = set()

    def _transaction(self, source: TP | None) -> str | None:
        if not self._exactly_once or source is None:
            return None
        group = self._app.assignor.group_for_topic(source.topic)
        return f"{self._app.conf.id}-{group}-{source.partition}"

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   headers: Headers | None, *, partition: int | None = None,
                   source: TP | None = None) -> None:
        """Queue one message; the commit of `source`'s offsets waits for it."""
        future: Any = await self._app.producer.send(
            topic, key, value, partition, None,
            cast(list[tuple[str, bytes]] | None, headers),  # ce_headers values are bytes
            transactional_id=self._transaction(source))
        future.add_done_callback(self._delivered)

    def _delivered(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            # The commit that follows would lose this output: stop the worker instead, so
            # the message is redelivered from the last committed offset after a restart.
            logger.error("send failed, stopping the worker: %r", error)
            crash = asyncio.ensure_future(self._app.crash(error))
            self._crashing.add(crash)
            crash.add_done_callback(self._crashing.discard)
