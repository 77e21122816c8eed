"""The request budget of one Zoho organization, spent carefully and by priority.

Three budgets, all served by priority class through a `producers.zoho.budget` ledger
(shared in PostgreSQL by every process of the org): requests per minute (paced evenly and
never more than the limit in any window, so the server's fixed windows are never
exceeded), requests per day (each class its share of the daily limit; a 429/45 suspends
every call until the reset) and requests in flight (lowered for every process on 429/1070
for a while, and in this process until it has gone well again for a while). The
`X-Rate-Limit-*` headers are read so that several processes sharing one organization back
off when the server says the minute is spent.
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

from producers.zoho.budget import (
    DAILY_SHARE,
    Answer,
    Ledger,
    Limits,
    MemoryLedger,
    Priority,
    Ticket,
)
from producers.zoho.errors import ZohoBudgetUnavailable, ZohoDailyLimitExceeded
from tds.metrics import Metrics

logger = logging.getLogger(__name__)

WINDOW_S = 60.0  # Zoho's per-minute window
SAFETY_S = 0.25  # covers network jitter between our clock and the server's
MAX_ASKS = 1_000_000  # a bound on one request's wait (polls are 50 ms: ~14 h)
CROWDED_COOL_S = 60.0  # after a 1070, every process keeps fewer calls in flight this long
LEASE_MARGIN_S = 15.0  # a call's place in flight outlives its timeout by this much


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
        call_timeout_s: float = 30.0,
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
        self._lease_s = call_timeout_s + LEASE_MARGIN_S
        self._not_before = 0.0  # after a 429/44: nobody sends before the server's reset
        self._in_flight = 0
        self._freed = asyncio.Event()  # set (and replaced) when a call of ours ends
        self._configured_per_minute = per_minute
        self._server_remaining: int | None = None
        self._server_reset_at = 0.0
        self._sent_since_header = 0
        self._suspended_until = 0.0
        self._successes = 0
        self._day_logged = ""  # the last refusal logged: once per reason and resume time
        self.utc_offset: timezone = UTC  # the org's offset, learned from its timestamps
        self.waited_s = 0.0  # time spent waiting for budget, for reports

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet finished."""
        return self._in_flight

    @asynccontextmanager
    async def slot(self, priority: Priority) -> AsyncIterator[None]:
        """Wait for budget in `priority`'s class, hold one in-flight place for the block."""
        ticket = await self._admit(priority)
        try:
            yield
        finally:
            self._in_flight -= 1
            try:
                # Shielded: a cancelled call still frees its place (else its lease lapses).
                with contextlib.suppress(ZohoBudgetUnavailable):
                    await asyncio.shield(self._ledger.release(ticket))
            finally:
                self._freed.set()
                self._freed = asyncio.Event()

    def _limits(self) -> Limits:
        return Limits(per_minute=self.per_minute, pace_s=self._pace_s(),
                      concurrency=self.concurrency, daily=self.daily, lease_s=self._lease_s,
                      poll_s=self._poll_s)

    async def _admit(self, priority: Priority) -> Ticket:
        self._check_suspended()
        ticket = Ticket(priority)
        waited = 0.0
        try:
            for _ in range(MAX_ASKS):  # bounded: each pass waits for a known moment or polls
                wait = self._hold_s()
                if wait <= 0:
                    answer = await self._ledger.take(ticket, self._limits())
                    if answer.granted:
                        break
                    if answer.suspended:
                        raise self._day_spent(priority, answer)
                    if answer.crowded:
                        waited += await self._until_freed()
                        continue
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
        self._in_flight += 1
        self._sent_since_header += 1
        if self.daily is not None:
            self._gauge("day", self.daily - answer.day_used)
        self.waited_s += waited
        if self._metrics is not None:
            self._metrics.zoho_budget_calls.labels(priority=priority.label).inc()
            if waited > 0:
                self._metrics.zoho_budget_waits.labels(priority=priority.label).inc()
                self._metrics.zoho_budget_wait_seconds.labels(priority=priority.label).inc(
                    waited)
        return ticket

    def _day_spent(self, priority: Priority, answer: Answer) -> ZohoDailyLimitExceeded:
        """The error for a class whose day is over: Zoho's 45, the daily limit, or the
        class's share of it (the rest is kept for more urgent classes)."""
        now = self._clock.time()
        resume = datetime.fromtimestamp(now + answer.wait_s, UTC)
        if self.daily is None or answer.day_used < self.daily * DAILY_SHARE[priority]:
            why = "Zoho's daily API limit is spent"
        elif answer.day_used >= self.daily:
            why = f"the daily limit of {self.daily} Zoho calls (ZOHO_DAILY_LIMIT) is spent"
        else:
            why = (f"{priority.label} calls have spent their {DAILY_SHARE[priority]:.0%} of "
                   f"the daily limit of {self.daily}; the rest is kept for more urgent calls")
        message = f"{why}; calls resume at {resume.replace(microsecond=0).isoformat()}"
        if message != self._day_logged:  # not once per refused call
            self._day_logged = message
            logger.warning("%s", message)
        if self.daily is not None:
            self._gauge("day", self.daily - answer.day_used)
        return ZohoDailyLimitExceeded(message, resume_at=resume, retry_after_s=answer.wait_s)

    async def _until_freed(self) -> float:
        """Wait for a call of ours to end, or `poll_s` (another process's may end): real
        time, since calls take real time even under a test's virtual clock."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._freed.wait(), self._poll_s)
        return loop.time() - start

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

    async def daily_exhausted(self) -> ZohoDailyLimitExceeded:
        """429/45: suspend every process until the org's next midnight (probing at least
        hourly)."""
        now = self._clock.time()
        local = datetime.fromtimestamp(now, self.utc_offset)
        midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                       microsecond=0)
        # The reset time is unconfirmed (midnight IST, say some): never sleep past an hour.
        self._suspended_until = min(midnight.timestamp(), now + self._max_suspend_s)
        try:
            await self._ledger.suspend(self._suspended_until - now)
        except ZohoBudgetUnavailable as exc:  # this process holds off all the same
            logger.warning("could not tell the other processes of the 45: %s", exc)
        self._gauge("day", 0)
        logger.warning("Zoho daily API limit reached; suspended for %.0f s",
                       self._suspended_until - now)
        resume = datetime.fromtimestamp(self._suspended_until, UTC)
        return ZohoDailyLimitExceeded(
            f"Zoho's daily API limit is spent; calls resume at {resume.isoformat()}",
            resume_at=resume, retry_after_s=self._suspended_until - now)

    async def too_concurrent(self) -> None:
        """429/1070: lower the number of calls in flight, of this process until it has gone
        well for a while, of every process of the org for `CROWDED_COOL_S`."""
        self.concurrency = max(1, min(self.concurrency, self._in_flight) - 1)
        self._successes = 0
        try:
            shared = await self._ledger.crowded(self.max_concurrency, CROWDED_COOL_S)
        except ZohoBudgetUnavailable as exc:
            logger.warning("could not lower the shared Zoho concurrency: %s", exc)
            shared = self.concurrency
        logger.info("Zoho concurrency lowered to %d (the organization's: %d for %.0f s)",
                    self.concurrency, shared, CROWDED_COOL_S)

    def _gauge(self, window: str, value: float) -> None:
        if self._metrics is not None:
            self._metrics.zoho_budget_remaining.labels(window=window).set(max(0.0, value))
