"""The request budget of one Zoho organization, spent carefully and by priority.

Three budgets: requests per minute (paced evenly and never more than the limit in any
window, so the server's fixed windows are never exceeded; served by priority class
through a `producers.zoho.budget` ledger, shared in PostgreSQL), requests per day (a 429/45
suspends every call until the reset) and requests in flight (lowered on 429/1070, raised
again slowly). The `X-Rate-Limit-*` headers are read so that several processes sharing
one organization back off when the server says the minute is spent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

from producers.zoho.budget import Ledger, MemoryLedger, Priority, Ticket
from producers.zoho.errors import ZohoDailyLimitExceeded
from tds.metrics import Metrics

logger = logging.getLogger(__name__)

WINDOW_S = 60.0  # Zoho's per-minute window
SAFETY_S = 0.25  # covers network jitter between our clock and the server's
MAX_ASKS = 1_000_000  # a bound on one request's wait (polls are 50 ms: ~14 h)


class Clock(Protocol):
    """Wall time and sleeping; tests substitute a virtual clock."""

    def time(self) -> float:
        """Epoch seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        ...


class RealClock:
    """The system clock."""

    def time(self) -> float:
        """Epoch seconds."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """asyncio.sleep."""
        await asyncio.sleep(seconds)


class RateLimiter:
    """Admits Zoho calls within the per-minute, daily and concurrency budgets."""

    def __init__(
        self,
        *,
        per_minute: int = 100,
        concurrency: int = 4,
        daily: int | None = None,
        window_s: float = WINDOW_S,
        safety_s: float = SAFETY_S,
        smooth: bool = True,
        max_suspend_s: float = 3600.0,
        recheck_s: float = 1.0,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        ledger: Ledger | None = None,
        poll_s: float = 0.05,
    ) -> None:
        self.per_minute = per_minute
        self.max_concurrency = concurrency
        self.concurrency = concurrency
        self.daily = daily
        self._window_s = window_s
        self._smooth = smooth
        self._max_suspend_s = max_suspend_s
        self._recheck_s = recheck_s
        self._clock = clock or RealClock()
        self._metrics = metrics
        self._ledger: Ledger = ledger or MemoryLedger(
            time=self._clock.time, window_s=window_s + safety_s)
        self._poll_s = poll_s
        self._not_before = 0.0  # after a 429/44: nobody sends before the server's reset
        self._in_flight = 0
        self._cond = asyncio.Condition()
        self._configured_per_minute = per_minute
        self._server_remaining: int | None = None
        self._server_reset_at = 0.0
        self._sent_since_header = 0
        self._suspended_until = 0.0
        self._successes = 0
        self._used_today = 0
        self._day = -1
        self.utc_offset: timezone = UTC  # the org's offset, learned from its timestamps
        self.waited_s = 0.0  # time spent waiting for budget, for reports

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet finished."""
        return self._in_flight

    @asynccontextmanager
    async def slot(self, priority: Priority) -> AsyncIterator[None]:
        """Wait for budget in `priority`'s class, hold one in-flight place for the block."""
        await self._admit(priority)
        try:
            yield
        finally:
            async with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    async def _admit(self, priority: Priority) -> None:
        self._check_suspended()
        ticket = Ticket(priority)
        waited = 0.0
        try:
            for _ in range(MAX_ASKS):  # bounded: each pass waits for a known moment or polls
                wait = self._hold_s()
                if wait <= 0:
                    answer = await self._ledger.take(ticket, per_minute=self.per_minute,
                                                     pace_s=self._pace_s())
                    if answer.granted:
                        break
                    wait = answer.wait_s if answer.head else max(answer.wait_s, self._poll_s)
                if self.per_minute < self._configured_per_minute:
                    # Under a lowered limit (a 429 storm's 3 a minute paces 20 s apart) ask
                    # again each `recheck_s`, so a ping goes within a second of its end.
                    wait = min(wait, self._recheck_s)
                waited += wait
                await self._clock.sleep(wait)
                self._check_suspended()
            else:
                raise RuntimeError(f"no Zoho budget after {MAX_ASKS} asks")
        except BaseException:
            # Off the queue, or a dead ticket would head it until it expires.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._ledger.leave(ticket))
            raise
        async with self._cond:
            while self._in_flight >= self.concurrency:
                await self._cond.wait()
            self._in_flight += 1
        self._sent_since_header += 1
        self._count_day()
        self.waited_s += waited
        if self._metrics is not None:
            self._metrics.zoho_budget_calls.labels(priority=priority.label).inc()
            if waited > 0:
                self._metrics.zoho_budget_waits.labels(priority=priority.label).inc()
                self._metrics.zoho_budget_wait_seconds.labels(priority=priority.label).inc(
                    waited)

    def _pace_s(self) -> float:
        return self._window_s / self.per_minute if self._smooth else 0.0

    def _hold_s(self) -> float:
        """How long every class must hold off: a 429/44, or the server's headers say the
        window is spent (other clients of the org may spend it too)."""
        now = self._clock.time()
        wait = self._not_before - now
        if self._server_remaining is not None and now < self._server_reset_at and \
                self._server_remaining - self._sent_since_header <= 0:
            wait = max(wait, self._server_reset_at - now)
        return wait

    def _check_suspended(self) -> None:
        now = self._clock.time()
        if now < self._suspended_until:
            resume = datetime.fromtimestamp(self._suspended_until, UTC)
            raise ZohoDailyLimitExceeded(
                f"Zoho's daily API limit is spent; calls resume at {resume.isoformat()}",
                resume_at=resume, retry_after_s=self._suspended_until - now)

    def _count_day(self) -> None:
        day = int((self._clock.time() + self._offset_s()) // 86_400)
        if day != self._day:
            self._day, self._used_today = day, 0
        self._used_today += 1
        if self.daily is not None:
            self._gauge("day", self.daily - self._used_today)

    def _offset_s(self) -> float:
        delta = self.utc_offset.utcoffset(None)
        return delta.total_seconds() if delta is not None else 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read X-Rate-Limit-Limit/Remaining/Reset of a response."""
        try:
            remaining = int(headers["X-Rate-Limit-Remaining"])
            reset_in = float(headers["X-Rate-Limit-Reset"])
        except (KeyError, ValueError):
            return
        limit = headers.get("X-Rate-Limit-Limit", "")
        now = self._clock.time()
        if limit.isdigit() and int(limit) > 0:
            self.per_minute = int(limit)
        reset_at = now + reset_in
        same_window = abs(reset_at - self._server_reset_at) < 1.5 and now < self._server_reset_at
        known = self._server_remaining
        if same_window and known is not None and remaining >= known - self._sent_since_header:
            return  # an older answer of this window: ours is the fresher view
        self._server_remaining = remaining
        self._server_reset_at = reset_at
        self._sent_since_header = 0
        self._gauge("minute", remaining)

    def success(self) -> None:
        """Note a successful call; after a quiet spell, give back one concurrency place."""
        self._successes += 1
        if self.concurrency < self.max_concurrency and self._successes >= 50:
            self.concurrency += 1
            self._successes = 0
            logger.info("Zoho concurrency raised to %d", self.concurrency)

    def minute_exhausted(self, headers: Mapping[str, str]) -> float:
        """429/44: hold every call until the server's window resets; return the wait."""
        now = self._clock.time()
        self.observe(headers)
        if self._server_reset_at <= now:
            self._server_reset_at = now + self._window_s
        self._server_remaining = 0
        self._sent_since_header = 0
        self._not_before = max(self._not_before, self._server_reset_at)
        return self._server_reset_at - now

    def daily_exhausted(self) -> ZohoDailyLimitExceeded:
        """429/45: suspend until the org's next midnight (probing at least hourly)."""
        now = self._clock.time()
        local = datetime.fromtimestamp(now, self.utc_offset)
        midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                       microsecond=0)
        # The reset time is unconfirmed (midnight IST, say some): never sleep past an hour.
        self._suspended_until = min(midnight.timestamp(), now + self._max_suspend_s)
        self._gauge("day", 0)
        logger.warning("Zoho daily API limit reached; suspended for %.0f s",
                       self._suspended_until - now)
        resume = datetime.fromtimestamp(self._suspended_until, UTC)
        return ZohoDailyLimitExceeded(
            f"Zoho's daily API limit is spent; calls resume at {resume.isoformat()}",
            resume_at=resume, retry_after_s=self._suspended_until - now)

    def too_concurrent(self) -> None:
        """429/1070: lower the number of calls in flight."""
        self.concurrency = max(1, min(self.concurrency, self._in_flight) - 1)
        self._successes = 0
        logger.info("Zoho concurrency lowered to %d", self.concurrency)

    def _gauge(self, window: str, value: float) -> None:
        if self._metrics is not None:
            self._metrics.zoho_budget_remaining.labels(window=window).set(max(0.0, value))
