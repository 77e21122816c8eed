"""One sync run: its ledger row, its lifecycle events and its counts.

    async with SyncRun(...) as run:        # claims nothing; emits tds.sync.started
        await run.publish_records(...)     # raw events, acknowledged before returning
    # emits tds.sync.completed, or tds.sync.failed with the error when the block raised
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from producers.pollers.config import PollTopics
from producers.pollers.messages import Message, raw_deleted, raw_record, run_event
from producers.pollers.publisher import Sink
from producers.pollers.state import PollState, RunRecord
from tds.metrics import Metrics

logger = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class SyncRun:
    """A claimed run: publishes its events, counts them, keeps its heartbeat."""

    def __init__(
        self,
        record: RunRecord,
        *,
        source: str,
        sink: Sink,
        topics: PollTopics,
        state: PollState,
        heartbeat_s: float = 10.0,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.record = record
        self.source = source  # raw event source: poll.stock, poll.incremental, ...
        self._sink = sink
        self._topics = topics
        self._state = state
        self._heartbeat_s = heartbeat_s
        self._metrics = metrics
        self._clock = clock
        self.seen = self.sent = self.deleted = self.failed = 0
        self.expected: int | None = None
        self.started_at: datetime | None = None
        self._beat: asyncio.Task[None] | None = None
        self._t0 = time.monotonic()

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.record.run_id

    @property
    def org_id(self) -> str:
        """The organization."""
        return self.record.org_id

    async def start(self, expected: int | None = None) -> None:
        """Emit tds.sync.started (with the expected count when known)."""
        self.expected = expected
        self.started_at = self._clock()
        self._t0 = time.monotonic()
        await self._emit("started")
        self._beat = asyncio.create_task(self._heartbeat(), name=f"heartbeat-{self.run_id}")
        logger.info("sync run %s (%s, %s) started: %s", self.run_id, self.record.run_type,
                    self.record.trigger, ",".join(self.record.entity_types))

    def configure(self, **values: str) -> None:
        """Add to the run's configuration (before `start`, so `started` carries it)."""
        self.record = replace(self.record,
                              configuration={**self.record.configuration, **values})

    async def __aenter__(self) -> SyncRun:
        return self  # the job calls start() once it knows what it will send

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
        error = None if exc is None else (f"{type(exc).__name__}: {exc}" if str(exc)
                                          else type(exc).__name__)
        status = "completed" if exc is None else "failed"
        if self.started_at is None:
            self.started_at = self._clock()  # failed before it could start
        try:
            await asyncio.shield(self._finish(status, error))
        except Exception:
            logger.exception("could not record the end of sync run %s", self.run_id)
        if exc is not None and not isinstance(exc, asyncio.CancelledError):
            logger.warning("sync run %s failed: %s", self.run_id, error)

    async def _finish(self, status: str, error: str | None) -> None:
        final = replace(self.record, status=status, seen=self.seen, sent=self.sent,
                        deleted=self.deleted, failed=self.failed, error=error)
        self.record = final
        await self._state.finish(final)
        await self._emit(status, error=error)
        if self._metrics is not None:
            self._metrics.sync_runs.labels(kind=final.run_type, status=status).inc()
            self._metrics.sync_run_duration.labels(kind=final.run_type).observe(
                time.monotonic() - self._t0)
        logger.info("sync run %s %s: seen %d, sent %d, deleted %d", self.run_id, status,
                    self.seen, self.sent, self.deleted)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                await self._state.heartbeat([self.run_id])
            except Exception as exc:  # a missed beat is not fatal; the next may work
                logger.warning("heartbeat of run %s failed: %s", self.run_id, exc)

    async def _emit(self, status: str, *, error: str | None = None) -> None:
        message = run_event(
            run_id=self.run_id, status=status, run_type=self.record.run_type,
            org_id=self.org_id, entity_types=self.record.entity_types, at=self._clock(),
            started_at=self.started_at, expected=self.expected, seen=self.seen,
            sent=self.sent, deleted=self.deleted, failed=self.failed, error=error,
            configuration=self.record.configuration)
        await self._sink.send_all(self._topics.runs, [message])

    async def publish_records(
        self,
        entity_type: str,
        records: Iterable[Mapping[str, Any]],
        id_field: str,
        *,
        source: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> int:
        """Publish snapshots (records without an id are counted as failed)."""
        at = self._clock()
        messages: list[Message] = []
        for record in records:
            self.seen += 1
            entity_id = record.get(id_field)
            if not entity_id:
                self.failed += 1
                continue
            messages.append(raw_record(org_id=self.org_id, entity_type=entity_type,
                                       entity_id=str(entity_id), record=record,
                                       source=source or self.source, run_id=self.run_id,
                                       at=at, attributes=attributes))
        sent = await self._sink.send_all(self._topics.raw, messages)
        self.sent += sent
        return sent

    async def publish_deleted(self, entity_type: str, ids: Sequence[str], id_field: str) -> int:
        """Publish delete events for ids Zoho no longer has."""
        at = self._clock()
        messages = [raw_deleted(org_id=self.org_id, entity_type=entity_type, entity_id=i,
                                id_field=id_field, source=self.source, run_id=self.run_id,
                                at=at) for i in ids]
        sent = await self._sink.send_all(self._topics.raw, messages)
        self.sent += sent
        self.deleted += sent
        return sent
