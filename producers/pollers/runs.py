"""One sync run: its ledger row, its lifecycle events and its counts.

    async with SyncRun(...) as run:        # claims nothing; emits tds.sync.started
        run.page_read("item", page)        # pages and Zoho's total, per entity type
        await run.publish_records(...)     # raw events, acknowledged before returning
    # emits tds.sync.completed, or tds.sync.failed with the error when the block raised

While it runs, `started` is repeated every `progress_s` with the counts so far (only when
they moved), so `sync_runs` and the API show a run's progress, not just its end.
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
from schemas.events import SyncRunEntity
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
        progress_s: float = 3.0,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.record = record
        self.source = source  # raw event source: poll.stock, poll.incremental, ...
        self._sink = sink
        self._topics = topics
        self._state = state
        self._heartbeat_s = heartbeat_s
        self._progress_s = progress_s
        self._entities: dict[str, SyncRunEntity] = {}
        self._reported: tuple[int, ...] = ()
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
        self._reported = self._progress()  # progress repeats `started` only once it moves
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
        beat_at = time.monotonic()
        while True:
            await asyncio.sleep(min(self._heartbeat_s, self._progress_s))
            try:
                if time.monotonic() - beat_at >= self._heartbeat_s:
                    beat_at = time.monotonic()
                    await self._state.heartbeat([self.run_id])
                await self._report_progress()
            except Exception as exc:  # a missed beat is not fatal; the next may work
                logger.warning("heartbeat of run %s failed: %s", self.run_id, exc)

    async def _report_progress(self) -> None:
        """Repeat `started` with the counts so far, when they moved."""
        now = self._progress()
        if now != self._reported:
            self._reported = now
            await self._emit("started")

    def _progress(self) -> tuple[int, ...]:
        return (self.seen, self.sent, self.failed, *(e.pages for e in self._entities.values()))

    @property
    def entities(self) -> list[SyncRunEntity]:
        """Progress per entity type, in the order the run met them."""
        return list(self._entities.values())

    def page_read(self, entity_type: str, context: Mapping[str, Any]) -> None:
        """Count a page read from Zoho; keep the total its page_context gives, if any."""
        entity = self._entity(entity_type)
        total = context.get("total")
        self._entities[entity_type] = replace(
            entity, pages=entity.pages + 1,
            total=total if isinstance(total, int) and total >= 0 else entity.total)

    def _entity(self, entity_type: str) -> SyncRunEntity:
        return self._entities.get(entity_type) or SyncRunEntity(entity_type)

    def _count(self, entity_type: str, *, seen: int = 0, sent: int = 0,
               failed: int = 0) -> None:
        self.seen += seen
        self.sent += sent
        self.failed += failed
        entity = self._entity(entity_type)
        self._entities[entity_type] = replace(entity, seen=entity.seen + seen,
                                              sent=entity.sent + sent,
                                              failed=entity.failed + failed)

    async def _emit(self, status: str, *, error: str | None = None) -> None:
        message = run_event(
            run_id=self.run_id, status=status, run_type=self.record.run_type,
            org_id=self.org_id, entity_types=self.record.entity_types, at=self._clock(),
            started_at=self.started_at, expected=self.expected, seen=self.seen,
            sent=self.sent, deleted=self.deleted, failed=self.failed, error=error,
            configuration=self.record.configuration, entities=self.entities)
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
        seen = 0
        for record in records:
            seen += 1
            entity_id = record.get(id_field)
            if not entity_id:
                continue
            messages.append(raw_record(org_id=self.org_id, entity_type=entity_type,
                                       entity_id=str(entity_id), record=record,
                                       source=source or self.source, run_id=self.run_id,
                                       at=at, attributes=attributes))
        sent = await self._sink.send_all(self._topics.raw, messages)
        self._count(entity_type, seen=seen, sent=sent, failed=seen - len(messages))
        return sent

    async def publish_deleted(self, entity_type: str, ids: Sequence[str], id_field: str) -> int:
        """Publish delete events for ids Zoho no longer has."""
        at = self._clock()
        messages = [raw_deleted(org_id=self.org_id, entity_type=entity_type, entity_id=i,
                                id_field=id_field, source=self.source, run_id=self.run_id,
                                at=at) for i in ids]
        sent = await self._sink.send_all(self._topics.raw, messages)
        self._count(entity_type, sent=sent)
        self.deleted += sent
        return sent
