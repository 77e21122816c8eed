"""The daily and concurrency limits of an org, shared in PostgreSQL across processes.

Each `RateLimiter` (or client) stands for one process with its own ledger handle on the
shared tables; the assertions are on counts and order, never on durations."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from producers.zoho.budget import Limits, Priority, Ticket
from producers.zoho.client import ClientOptions, ZohoClient
from producers.zoho.errors import ZohoDailyLimitExceeded
from producers.zoho.pgbudget import PgLedger
from producers.zoho.ratelimit import RateLimiter
from producers.zoho.tokens import PgTokenStore
from tds.metrics import Metrics
from tests.integration.zoho.simkit import Sim, SimClock, stats_requests

PER_MINUTE = 6000  # 10 ms apart: the per-minute budget never decides these tests


def _org() -> str:
    return f"shared-{uuid.uuid4().hex[:12]}"


def process(pool: asyncpg.Pool, org: str, name: str, *, daily: int | None = None,
            concurrency: int = 4, priorities: bool = True,
            metrics: Metrics | None = None) -> RateLimiter:
    """A process's limiter on the org's shared budget."""
    ledger = PgLedger(pool.acquire, org_id=org, owner=name, window_s=60.25,
                      priorities=priorities)
    return RateLimiter(per_minute=PER_MINUTE, concurrency=concurrency, daily=daily,
                       ledger=ledger, metrics=metrics)


async def _call(limiter: RateLimiter, priority: Priority) -> bool:
    """One call's budget: True when granted, False when the day refused it."""
    try:
        async with limiter.slot(priority):
            return True
    except ZohoDailyLimitExceeded:
        return False


class Holder:
    """Calls that hold their place in flight until let go, in the order granted."""

    def __init__(self) -> None:
        self.granted: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, limiter: RateLimiter, priority: Priority, *names: str) -> None:
        for name in names:
            self.gates[name] = asyncio.Event()
            self.tasks.append(asyncio.create_task(self._hold(limiter, priority, name)))

    async def crowd(self, limiter: RateLimiter, names: list[str], pinger: RateLimiter,
                    quiet_s: float) -> None:
        """Scheduled calls `names` take their places, then `pinger`'s ping asks and is
        not granted for `quiet_s`."""
        self.start(limiter, Priority.SCHEDULED, *names)
        await self.until_granted(len(names))
        self.start(pinger, Priority.REALTIME, "ping")
        await self.none_granted_for(quiet_s, len(names))

    async def _hold(self, limiter: RateLimiter, priority: Priority, name: str) -> None:
        async with limiter.slot(priority):
            self.granted.append(name)
            await self.gates[name].wait()

    async def until_granted(self, count: int) -> None:
        for _ in range(400):  # bounded: grants come within a few polls
            if len(self.granted) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.granted)} granted, not {count}: {self.granted}")

    async def none_granted_for(self, seconds: float, count: int) -> None:
        await asyncio.sleep(seconds)
        assert len(self.granted) == count, self.granted


@asynccontextmanager
async def holding() -> AsyncIterator[Holder]:
    """A Holder whose calls all end with the block (cancelled: a failed check leaves none
    behind on the pool)."""
    calls = Holder()
    try:
        yield calls
    finally:
        for task in calls.tasks:
            task.cancel()
        await asyncio.gather(*calls.tasks, return_exceptions=True)


async def _flying(pool: asyncpg.Pool, org: str) -> int:
    value = await pool.fetchval("SELECT count(*) FROM zoho_budget WHERE org_id = $1 AND "
                                "lease_until > clock_timestamp()", org)
    return int(value)


async def test_two_processes_share_one_daily_limit(pool: asyncpg.Pool) -> None:
    org = _org()
    first, second = (process(pool, org, name, daily=10) for name in ("poller", "worker"))
    outcomes = [await _call(limiter, Priority.REALTIME)
                for _ in range(8) for limiter in (first, second)]
    assert outcomes.count(True) == 10, outcomes  # not 10 each
    assert outcomes[10:] == [False] * 6
    used = await pool.fetchval("SELECT used FROM zoho_budget_org WHERE org_id = $1", org)
    assert used == 10


async def test_a_45_in_one_process_stops_every_process(pool: asyncpg.Pool) -> None:
    org = _org()
    first, second = process(pool, org, "poller"), process(pool, org, "worker")
    assert await _call(second, Priority.REALTIME)
    error = await first.daily_exhausted()  # Zoho said 45 to the poller
    with pytest.raises(ZohoDailyLimitExceeded) as info:
        async with second.slot(Priority.REALTIME):
            pass
    assert "Zoho's daily API limit is spent" in str(info.value)
    assert info.value.retry_after_s is not None and error.retry_after_s is not None
    assert 0 < info.value.retry_after_s <= error.retry_after_s + 1


async def test_the_top_class_keeps_the_days_reserve(pool: asyncpg.Pool) -> None:
    org = _org()
    metrics = Metrics.create()
    poller = process(pool, org, "poller", daily=20, metrics=metrics)
    worker = process(pool, org, "worker", daily=20, metrics=metrics)
    full = await asyncio.gather(*(_call(poller, Priority.FULL) for _ in range(30)))
    assert full.count(True) == 17  # 85 % of 20: the rest is not the full sync's
    with pytest.raises(ZohoDailyLimitExceeded) as info:
        async with poller.slot(Priority.FULL):
            pass
    assert "kept for more urgent calls" in str(info.value)
    pings = [await _call(worker, Priority.REALTIME) for _ in range(5)]
    assert pings == [True, True, True, False, False]  # the last 3 of 20 were kept for them
    calls = metrics.zoho_budget_calls
    assert calls.labels(priority="full")._value.get() == 17
    assert calls.labels(priority="realtime")._value.get() == 3
    assert metrics.zoho_budget_remaining.labels(window="day")._value.get() == 0


@pytest.mark.parametrize("priorities", [True, False], ids=["priorities", "fifo"])
async def test_a_ping_takes_the_next_free_place_in_flight(pool: asyncpg.Pool,
                                                          priorities: bool) -> None:
    org = _org()
    poller = process(pool, org, "poller", concurrency=1, priorities=priorities)
    worker = process(pool, org, "worker", concurrency=1, priorities=priorities)
    async with holding() as calls:
        calls.start(poller, Priority.FULL, "full-0")
        await calls.until_granted(1)
        calls.start(poller, Priority.FULL, "full-1", "full-2", "full-3")
        await asyncio.sleep(0.2)  # the backlog queues behind the one place in flight
        calls.start(worker, Priority.REALTIME, "ping")
        await calls.none_granted_for(0.2, 1)  # the place is taken: nobody else flies
        for done in range(1, 6):  # let each call end in turn: the next one takes its place
            calls.gates[calls.granted[-1]].set()
            if done < 5:
                await calls.until_granted(done + 1)
        await asyncio.gather(*calls.tasks)
    if priorities:
        assert calls.granted[1] == "ping", calls.granted
    else:
        assert calls.granted.index("ping") == 4, calls.granted  # first come, first served


async def test_two_processes_share_the_calls_in_flight(pool: asyncpg.Pool) -> None:
    org = _org()
    poller = process(pool, org, "poller", concurrency=2)
    worker = process(pool, org, "worker", concurrency=2)
    async with holding() as calls:
        await calls.crowd(poller, ["sync-0", "sync-1"], worker, 0.3)  # the org's two places
        assert await _flying(pool, org) == 2
        calls.gates["sync-0"].set()
        await calls.until_granted(3)
        assert calls.granted[2] == "ping"
        for gate in calls.gates.values():
            gate.set()
        await asyncio.gather(*calls.tasks)
    assert await _flying(pool, org) == 0


async def test_a_1070_lowers_every_processs_calls_in_flight(pool: asyncpg.Pool) -> None:
    org = _org()
    poller = process(pool, org, "poller", concurrency=4)
    worker = process(pool, org, "worker", concurrency=4)
    async with holding() as calls:
        calls.start(poller, Priority.SCHEDULED, "sync-0", "sync-1", "sync-2")
        await calls.until_granted(3)
        await poller.too_concurrent()  # Zoho said 1070 with three in flight: two at most now
        calls.gates["sync-0"].set()
        calls.start(worker, Priority.REALTIME, "ping")
        await calls.none_granted_for(0.3, 3)  # two fly: the worker's other places are gone
        calls.gates["sync-1"].set()
        await calls.until_granted(4)
        assert calls.granted[3] == "ping"


async def test_a_killed_holders_place_in_flight_frees_itself(pool: asyncpg.Pool) -> None:
    org = _org()
    limits = Limits(PER_MINUTE, 0.01, concurrency=1, lease_s=0.5)
    dead = PgLedger(pool.acquire, org_id=org, owner="dead", window_s=60.25)
    assert (await dead.take(Ticket(Priority.FULL), limits)).granted
    # Its process dies here, mid-call: the lease is never released.
    alive = PgLedger(pool.acquire, org_id=org, owner="alive", window_s=60.25)
    ticket, answer = Ticket(Priority.REALTIME), None
    crowded = 0
    for _ in range(200):  # bounded: the lease lapses after 0.5 s
        answer = await alive.take(ticket, limits)
        if answer.granted:
            break
        crowded += answer.crowded
        await asyncio.sleep(0.02)
    assert answer is not None and answer.granted
    assert crowded > 0  # it did wait for the dead call's place


async def test_a_45_to_one_client_stops_another_without_a_call(
        sim: Sim, pool: asyncpg.Pool) -> None:
    await sim.control("limits", {"daily": 3})

    def client() -> ZohoClient:  # a process: its own client, the org's pool
        return ZohoClient(sim.settings(), pool=pool, token_store=PgTokenStore.from_pool(pool),
                          options=ClientOptions(per_minute=PER_MINUTE),
                          clock=SimClock(sim.state))

    async with client() as poller, client() as worker:
        with pytest.raises(ZohoDailyLimitExceeded):
            for page in range(1, 6):
                await poller.get_items(page=page, per_page=10)
        before = stats_requests(await sim.control("stats"))
        with pytest.raises(ZohoDailyLimitExceeded):
            await worker.get_record("item", "1")
        assert stats_requests(await sim.control("stats")) == before  # no call was made
    assert (await sim.control("stats"))["rate_limited"]["45"] == 1

