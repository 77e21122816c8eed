"""The rate limiter on a virtual clock: pace, window, server headers, 44, 45, 1070."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from producers.zoho.budget import Limits, MemoryLedger, Priority, Ticket
from producers.zoho.errors import ZohoBudgetUnavailable, ZohoDailyLimitExceeded
from producers.zoho.pgbudget import PgLedger
from producers.zoho.ratelimit import RateLimiter

T0 = 1_763_000_000.0  # 2025-11-13T02:13:20Z


class VirtualClock:
    """Time moves only when someone sleeps."""

    def __init__(self, start: float = T0) -> None:
        self.now = start
        self.sends: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


async def _send(limiter: RateLimiter, clock: VirtualClock, count: int) -> None:
    for _ in range(count):
        async with limiter.slot(Priority.MANUAL):
            clock.sends.append(clock.now)


def _max_in_window(times: list[float], window: float = 60.0) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


async def test_paced_evenly_and_never_over_the_limit_in_any_window() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(per_minute=100, clock=clock)
    await _send(limiter, clock, 250)
    assert _max_in_window(clock.sends) <= 100
    gaps = [b - a for a, b in zip(clock.sends, clock.sends[1:], strict=False)]
    assert min(gaps) >= 0.6 - 1e-6
    elapsed = clock.sends[-1] - clock.sends[0]
    assert 149.0 <= elapsed <= 151.0  # (250 - 1) x 0.6 s, plus the window safety margin


async def test_burst_mode_still_respects_the_sliding_window() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(per_minute=10, smooth=False, clock=clock)
    await _send(limiter, clock, 25)
    assert _max_in_window(clock.sends) <= 10
    assert clock.sends[9] == T0 and clock.sends[10] >= T0 + 60


async def test_server_headers_stop_us_when_others_spent_the_minute() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(per_minute=100, clock=clock)
    await _send(limiter, clock, 1)
    limiter.observe({"X-Rate-Limit-Limit": "100", "X-Rate-Limit-Remaining": "0",
                     "X-Rate-Limit-Reset": "42"})
    await _send(limiter, clock, 1)
    assert clock.sends[-1] >= T0 + 42


async def test_header_limit_lowers_the_pace() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(per_minute=100, clock=clock)
    limiter.observe({"X-Rate-Limit-Limit": "10", "X-Rate-Limit-Remaining": "10",
                     "X-Rate-Limit-Reset": "60"})
    await _send(limiter, clock, 3)
    assert clock.sends[2] - clock.sends[0] >= 12 - 1e-6


async def test_stale_headers_of_the_same_window_are_ignored() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(per_minute=100, clock=clock)
    limiter.observe({"X-Rate-Limit-Remaining": "5", "X-Rate-Limit-Reset": "30"})
    limiter.observe({"X-Rate-Limit-Remaining": "50", "X-Rate-Limit-Reset": "30"})
    assert limiter._server_remaining == 5


async def test_minute_exhausted_holds_every_caller_until_reset() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(per_minute=100, clock=clock)
    limiter.observe({"X-Rate-Limit-Remaining": "3", "X-Rate-Limit-Reset": "20"})
    assert limiter.minute_exhausted({}) == pytest.approx(20)
    await _send(limiter, clock, 1)
    assert clock.sends[0] >= T0 + 20
    fresh = RateLimiter(clock=VirtualClock())
    assert fresh.minute_exhausted({}) == pytest.approx(60)  # no header ever seen


async def test_daily_limit_suspends_until_midnight_or_an_hour() -> None:
    clock = VirtualClock(datetime(2025, 11, 13, 23, 30, tzinfo=UTC).timestamp())
    limiter = RateLimiter(clock=clock)
    error = await limiter.daily_exhausted()
    assert error.resume_at == datetime(2025, 11, 14, tzinfo=UTC)
    assert error.retry_after_s == pytest.approx(1800)
    with pytest.raises(ZohoDailyLimitExceeded):
        await _send(limiter, clock, 1)
    clock.now += 1801
    await _send(limiter, clock, 1)
    early = VirtualClock(datetime(2025, 11, 13, 8, 0, tzinfo=UTC).timestamp())
    capped = RateLimiter(clock=early)
    assert (await capped.daily_exhausted()).retry_after_s == pytest.approx(3600)  # probe hourly
    offset = RateLimiter(clock=VirtualClock(clock.now))
    offset.utc_offset = timezone(timedelta(hours=3))  # org midnight is 21:00 UTC
    assert (await offset.daily_exhausted()).retry_after_s == pytest.approx(3600)


async def test_concurrency_is_lowered_then_slowly_raised() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(per_minute=10_000, concurrency=4, clock=clock)
    in_flight: list[int] = []
    gate = asyncio.Event()

    async def hold() -> None:
        async with limiter.slot(Priority.MANUAL):
            in_flight.append(limiter.in_flight)
            await gate.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(6)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert limiter.in_flight == 4
    await limiter.too_concurrent()
    assert limiter.concurrency == 3
    gate.set()
    await asyncio.gather(*tasks)
    assert max(in_flight) == 4 and limiter.in_flight == 0
    for _ in range(50):
        limiter.success()
    assert limiter.concurrency == 4
    for _ in range(10):
        await limiter.too_concurrent()
    assert limiter.concurrency == 1


async def test_callers_queued_at_a_storms_low_limit_go_soon_after_it_rises() -> None:
    # A 429 storm's headers say 3 a minute: five callers queue, paced 20 s apart. When
    # the server's limit is back to 100, the ones still waiting go at its pace.
    clock = VirtualClock()
    limiter = RateLimiter(per_minute=100, clock=clock)
    limiter.observe({"X-Rate-Limit-Limit": "3", "X-Rate-Limit-Remaining": "3",
                     "X-Rate-Limit-Reset": "60"})
    callers = [asyncio.ensure_future(_send(limiter, clock, 1)) for _ in range(5)]
    for _ in range(100):  # let the first two go (the storm's remaining budget)
        if len(clock.sends) >= 2:
            break
        await asyncio.sleep(0)
    assert len(clock.sends) == 2
    limiter.observe({"X-Rate-Limit-Limit": "100", "X-Rate-Limit-Remaining": "99",
                     "X-Rate-Limit-Reset": "60"})
    await asyncio.gather(*callers)
    assert len(clock.sends) == 5
    assert clock.sends[-1] - clock.sends[1] < 5.0  # not 3 × 20 s behind
    assert _max_in_window(clock.sends) <= 100


async def test_the_head_of_the_queue_is_the_most_urgent_class_then_the_oldest() -> None:
    clock = VirtualClock()
    ledger = MemoryLedger(time=clock.time, window_s=60.25)
    first = Ticket(Priority.FULL)
    assert (await ledger.take(first, Limits(100, 0.6))).granted
    backlog = [Ticket(Priority.FULL) for _ in range(3)]
    for ticket in backlog:
        assert not (await ledger.take(ticket, Limits(100, 0.6))).granted
    ping = Ticket(Priority.REALTIME)
    answer = await ledger.take(ping, Limits(100, 0.6))
    assert answer.head and not answer.granted and answer.wait_s == pytest.approx(0.6)
    clock.now += 0.6
    assert not (await ledger.take(backlog[0], Limits(100, 0.6))).head
    assert (await ledger.take(ping, Limits(100, 0.6))).granted
    clock.now += 0.6
    assert (await ledger.take(backlog[0], Limits(100, 0.6))).granted
    await ledger.leave(backlog[1])
    clock.now += 0.6
    assert (await ledger.take(backlog[2], Limits(100, 0.6))).granted


async def test_a_database_failure_is_a_retriable_zoho_error() -> None:
    @asynccontextmanager
    async def unreachable() -> AsyncIterator[Any]:
        raise ConnectionRefusedError("connection refused")
        yield  # pragma: no cover  # a generator, never reached

    ledger = PgLedger(unreachable, org_id="1", owner="me", window_s=60.25)
    with pytest.raises(ZohoBudgetUnavailable) as info:
        await ledger.take(Ticket(Priority.REALTIME), Limits(100, 0.6))
    assert info.value.retriable


async def _outcomes(limiter: RateLimiter, priority: Priority, count: int) -> list[bool]:
    out = []
    for _ in range(count):
        try:
            async with limiter.slot(priority):
                out.append(True)
        except ZohoDailyLimitExceeded:
            out.append(False)
    return out


async def test_each_class_spends_its_share_of_the_day_and_the_day_turns_at_utc_midnight() \
        -> None:
    clock = VirtualClock(datetime(2025, 11, 13, 23, 0, tzinfo=UTC).timestamp())
    limiter = RateLimiter(per_minute=10_000, daily=100, clock=clock)
    assert (await _outcomes(limiter, Priority.IMAGES, 90)).count(True) == 80
    assert (await _outcomes(limiter, Priority.FULL, 10)).count(True) == 5  # to 85
    assert (await _outcomes(limiter, Priority.SCHEDULED, 10)).count(True) == 5  # to 90
    assert (await _outcomes(limiter, Priority.MANUAL, 10)).count(True) == 5  # to 95
    with pytest.raises(ZohoDailyLimitExceeded) as info:
        async with limiter.slot(Priority.FULL):
            pass
    assert "kept for more urgent calls" in str(info.value)
    assert info.value.resume_at == datetime(2025, 11, 14, tzinfo=UTC)
    assert await _outcomes(limiter, Priority.REALTIME, 6) == [True] * 5 + [False]
    with pytest.raises(ZohoDailyLimitExceeded) as info:
        async with limiter.slot(Priority.REALTIME):
            pass
    assert "the daily limit of 100 Zoho calls" in str(info.value)
    clock.now = datetime(2025, 11, 14, tzinfo=UTC).timestamp()
    assert await _outcomes(limiter, Priority.IMAGES, 1) == [True]


async def test_a_45_holds_every_limiter_of_the_ledger() -> None:
    clock = VirtualClock(datetime(2025, 11, 13, 8, 0, tzinfo=UTC).timestamp())
    ledger = MemoryLedger(time=clock.time, window_s=60.25)
    first, second = (RateLimiter(clock=clock, ledger=ledger) for _ in range(2))
    await first.daily_exhausted()
    with pytest.raises(ZohoDailyLimitExceeded) as info:
        async with second.slot(Priority.REALTIME):
            pass
    assert info.value.retry_after_s == pytest.approx(3600)
    clock.now += 3600
    assert await _outcomes(second, Priority.REALTIME, 1) == [True]


async def test_a_lease_never_released_lapses() -> None:
    clock = VirtualClock()
    ledger = MemoryLedger(time=clock.time, window_s=60.25)
    limits = Limits(10_000, 0.0, concurrency=1, lease_s=45.0)
    assert (await ledger.take(Ticket(Priority.FULL), limits)).granted  # never released
    ping = Ticket(Priority.REALTIME)
    answer = await ledger.take(ping, limits)
    assert answer.crowded and not answer.granted
    clock.now += 45.0
    assert (await ledger.take(ping, limits)).granted


async def test_a_1070_lowers_the_ledgers_allowance_for_a_while() -> None:
    clock = VirtualClock()
    ledger = MemoryLedger(time=clock.time, window_s=60.25)
    limits = Limits(10_000, 0.0, concurrency=4, lease_s=3600.0)  # they fly all along
    held = [Ticket(Priority.FULL) for _ in range(3)]
    for ticket in held:
        assert (await ledger.take(ticket, limits)).granted
    assert await ledger.crowded(4, 60.0) == 2
    await ledger.release(held[0])
    ping = Ticket(Priority.REALTIME)
    assert (await ledger.take(ping, limits)).crowded  # two fly: no third place for a minute
    clock.now += 60.0
    assert (await ledger.take(ping, limits)).granted
