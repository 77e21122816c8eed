"""The request budget of one Zoho organization, spent carefully.

Three budgets: requests per minute (paced evenly and never more than the limit in any
window, so the server's fixed windows are never exceeded), requests per day (a 429/45
suspends every call until the reset) and requests in flight (lowered on 429/1070, raised
again slowly). The `X-Rate-Limit-*` headers are read so that several processes sharing
one organization back off when the server says the minute is spent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

from producers.zoho.errors import ZohoDailyLimitExceeded
from tds.metrics import Metrics

logger = logging.getLogger(__name__)


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
        window_s: float = 60.0,
        safety_s: float = 0.25,
        smooth: bool = True,
        max_suspend_s: float = 3600.0,
        recheck_s: float = 1.0,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.per_minute = per_minute
        self.max_concurrency = concurrency
        self.concurrency = concurrency
        self.daily = daily
        self._window_s = window_s
        self._safety_s = safety_s  # covers network jitter between our clock and the server's
        self._smooth = smooth
        self._max_suspend_s = max_suspend_s
        self._recheck_s = recheck_s
        self._clock = clock or RealClock()
        self._metrics = metrics
        self._sent: deque[float] = deque()  # reserved send times inside the window
        self._next_at = 0.0
        self._in_flight = 0
        self._cond = asyncio.Condition()
        self._raised = 0  # bumped when the server's limit rises: waiters book again
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
    async def slot(self) -> AsyncIterator[None]:
        """Wait for budget, hold one in-flight place for the block."""
        await self._admit()
        try:
            yield
        finally:
            async with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    async def _admit(self) -> None:
        self._check_suspended()
        async with self._cond:
            while self._in_flight >= self.concurrency:
                await self._cond.wait()
            self._in_flight += 1
        try:
            at, raised = self._reserve(), self._raised
            for _ in range(100_000):  # bounded: each pass waits for a later, known moment
                now = self._clock.time()
                if raised != self._raised:  # booked at a lower limit: book again
                    at, raised = self._reserve(), self._raised
                wait = at - now
                if self._server_remaining is not None and now < self._server_reset_at and \
                        self._server_remaining - self._sent_since_header <= 0:
                    wait = max(wait, self._server_reset_at - now)
                if wait <= 0:
                    break
                # In steps, so a limit that rises meanwhile (a storm's end) is seen.
                step = min(wait, self._recheck_s)
                self.waited_s += step
                await self._clock.sleep(step)
                self._check_suspended()
            self._sent_since_header += 1
            self._count_day()
        except BaseException:
            async with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()
            raise

    def _reserve(self) -> float:
        """Book the earliest send time that keeps pace and the sliding window."""
        now = self._clock.time()
        horizon = self._window_s + self._safety_s
        while self._sent and self._sent[0] <= now - horizon:
            self._sent.popleft()
        at = max(now, self._next_at)
        if len(self._sent) >= self.per_minute:
            at = max(at, self._sent[-self.per_minute] + horizon)
        self._sent.append(at)
        pace = self._window_s / self.per_minute if self._smooth else 0.0
        self._next_at = at + pace
        self._gauge("minute", self.per_minute - len(self._sent))
        return at

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
            if int(limit) > self.per_minute:
                self._rebook(now)
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

    def _rebook(self, now: float) -> None:
        """The limit rose: drop the bookings made at the old pace (a 429 storm's limit of
        3 a minute spaces them 20 s apart, so a webhook ping queued then would otherwise
        wait minutes after Zoho recovered); each waiter books again at the new pace."""
        self._sent = deque(t for t in self._sent if t <= now)
        self._next_at = min(self._next_at, now)
        self._raised += 1

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
        self._next_at = max(self._next_at, self._server_reset_at)
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
