"""One scheduler per cluster: the `tds poll` process holding a PostgreSQL advisory lock
fires the periodic runs; the others wait for the lock.

Why a session advisory lock on a dedicated connection (not Kafka group membership): the
lock is released by the server the moment the holder's connection drops (a killed
process's socket closes at once; TCP keepalives cover a vanished host), so a standby
that retries every `tick_s` takes over within seconds, with no rebalance protocol to
tune. Leadership alone does not prevent a double fire across a hand-over, so every slot
is also claimed in `poll_runs`, whose primary key is the slot: a slot fires once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from producers.pollers import joins
from producers.pollers.config import PollerConfig
from producers.pollers.state import PollState, RunRecord
from tds import postgres

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Periodic:
    """A kind of run fired every `interval_s`, on slots aligned to the epoch."""

    run_type: str
    interval_s: float
    entity_types: tuple[str, ...]
    fire: Callable[[RunRecord], Coroutine[Any, Any, None]]


class Leadership:
    """A session advisory lock held on its own connection."""

    def __init__(self, dsn: str, *, name: str, owner: str, timeout_s: float = 5.0) -> None:
        self._dsn = dsn
        self._name = name
        self._owner = owner
        self._timeout_s = timeout_s
        self._conn: asyncpg.Connection | None = None
        self.held = False

    async def _connect(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await postgres.connect(
                self._dsn, timeout=self._timeout_s, server_settings={
                    "application_name": f"tds-poll-leader {self._owner}"[:63],
                    # A leader whose host vanished is noticed by the server in ~25 s.
                    "tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5",
                    "tcp_keepalives_count": "3"})
        return self._conn

    async def key(self, conn: asyncpg.Connection) -> int:
        """The lock id: one per organization and schema (tests run side by side)."""
        schema = await conn.fetchval("SELECT current_schema()")
        digest = hashlib.sha256(f"tds.poll.scheduler:{self._name}:{schema}".encode())
        return int(digest.hexdigest()[:15], 16)

    async def ensure(self) -> bool:
        """Try to hold the lock (or check we still do); False when another process has it."""
        try:
            conn = await self._connect()
            if self.held:
                await conn.fetchval("SELECT 1", timeout=self._timeout_s)
                return True
            got = await conn.fetchval("SELECT pg_try_advisory_lock($1)", await self.key(conn),
                                      timeout=self._timeout_s)
            self.held = bool(got)
            if self.held:
                logger.info("this poller (%s) is now the scheduler", self._owner)
            return self.held
        except (OSError, TimeoutError, asyncpg.PostgresError,
                asyncpg.InterfaceError) as exc:
            if self.held:
                logger.warning("lost the scheduler lock: %s", exc)
            self.held = False
            await self.close()
            return False

    async def close(self) -> None:
        """Drop the connection (and with it the lock)."""
        conn, self._conn = self._conn, None
        self.held = False
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=self._timeout_s)


def slot_of(now_s: float, interval_s: float) -> float:
    """Start of the slot containing `now_s`."""
    return math.floor(now_s / interval_s) * interval_s


class Scheduler:
    """While leader: claim each due slot once and fire it; sweep runs of dead processes."""

    def __init__(
        self,
        *,
        leadership: Leadership,
        state: PollState,
        config: PollerConfig,
        periodic: list[Periodic],
        on_stale: Callable[[list[RunRecord]], Awaitable[None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._leadership = leadership
        self._state = state
        self._config = config
        self._periodic = periodic
        self._on_stale = on_stale
        self._clock = clock
        self._running: dict[str, asyncio.Task[None]] = {}
        self._done: dict[str, float] = {}  # run type -> last slot claimed or skipped
        self._last_sweep = 0.0
        self._leading = False
        self.fired: list[RunRecord] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; the lock is released on the way out."""
        try:
            while not stop.is_set():
                try:
                    if await self._leadership.ensure():
                        if not self._leading:
                            await self._adopt()
                        await self._tick()
                    else:
                        self._leading = False
                except Exception:
                    logger.exception("scheduler tick failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._config.tick_s)
        finally:
            for task in self._running.values():
                task.cancel()
            for task in self._running.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._leadership.close()

    async def _adopt(self) -> None:
        """Take over the schedule: runs a previous scheduler left started are failed now,
        not after `stale_after_s` of silence (they would hold their run type's slots that
        long: measured, no reconcile for 90 s after a poller was killed)."""
        adopted = await self._state.adopt(self._config.owner, self._config.org_id)
        self._leading = True
        if adopted:
            logger.warning("took over from a previous scheduler: %d of its runs failed (%s)",
                           len(adopted), ", ".join(r.run_id for r in adopted))
            await self._on_stale(adopted)

    async def _tick(self) -> None:
        now = self._clock()
        if now - self._last_sweep >= self._config.stale_after_s / 3:
            self._last_sweep = now
            stale = await self._state.sweep(self._config.stale_after_s)
            if stale:
                await self._on_stale(stale)
        running: list[RunRecord] | None = None
        for job in self._periodic:
            slot = slot_of(now, job.interval_s)
            if self._done.get(job.run_type, -1.0) >= slot:
                continue
            task = self._running.get(job.run_type)
            if task is not None and not task.done():
                continue  # the previous run is still going; fire this slot when it ends
            if running is None:
                running = await self._state.running(self._config.org_id,
                                                    self._config.stale_after_s)
            cover = joins.covering(running, job.run_type, job.entity_types)
            if cover is not None:
                logger.info("scheduled %s run joins run %s (%s, %s), which reads as much",
                            job.run_type, cover.run_id, cover.run_type, cover.trigger)
                self._done[job.run_type] = slot
                continue
            if job.run_type != "full" and joins.full_read_running(running,
                                                                      job.entity_types):
                continue  # fire this slot once the full read ended, not beside it
            record = self._record(job, slot)
            if await self._state.claim(record, exclusive_s=self._config.stale_after_s):
                self.fired.append(record)
                running.append(record)
                self._running[job.run_type] = asyncio.create_task(
                    job.fire(record), name=f"run-{record.run_key}")
            self._done[job.run_type] = slot

    def _record(self, job: Periodic, slot: float) -> RunRecord:
        at = datetime.fromtimestamp(slot, UTC).isoformat().replace("+00:00", "Z")
        return RunRecord(
            run_key=f"{self._config.org_id}:{job.run_type}@{at}",
            run_id=str(uuid.uuid4()),
            org_id=self._config.org_id,
            run_type=job.run_type,
            trigger="schedule",
            entity_types=job.entity_types,
            owner=self._config.owner,
            configuration={"trigger": "schedule", "slot": at,
                           "interval_s": f"{job.interval_s:g}"},
        )
