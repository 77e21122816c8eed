"""One Zoho budget in PostgreSQL, served by priority across processes.

Each `RateLimiter` stands for one process (its own ledger handle on the shared table);
the assertions are on the order requests were granted in, never on durations. Each test
runs with priorities off too, and shows the property then fails."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from producers.zoho.budget import Limits, Priority, Ticket
from producers.zoho.pgbudget import PgLedger
from producers.zoho.ratelimit import RateLimiter
from tests.integration.zoho.simkit import schema_pool

PER_MINUTE = 600  # 0.1 s apart: the backlog queues, the test stays short


@pytest.fixture
async def pool(database_url: str, pg_schema: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a freshly migrated schema."""
    async with schema_pool(database_url, pg_schema) as p:
        yield p


def process(pool: asyncpg.Pool, org: str, name: str, *, priorities: bool) -> RateLimiter:
    """A process's limiter on the org's shared budget."""
    ledger = PgLedger(pool.acquire, org_id=org, owner=name, window_s=60.25,
                      priorities=priorities)
    return RateLimiter(per_minute=PER_MINUTE, concurrency=4, ledger=ledger)


async def _waiting(pool: asyncpg.Pool, org: str, priority: Priority) -> int:
    value = await pool.fetchval("SELECT count(*) FROM zoho_budget WHERE org_id = $1 AND "
                                "priority = $2 AND granted_at IS NULL", org, int(priority))
    return int(value)


async def _backlog(pool: asyncpg.Pool, org: str, limiter: RateLimiter, priority: Priority,
                   granted: list[str], *, priorities: bool) -> list[asyncio.Task[None]]:
    """Twelve requests of `priority`, returned once at least eight of them wait."""
    name = priority.label
    tasks = [asyncio.create_task(_request(limiter, priority, f"{name}-{i}", granted))
             for i in range(12)]
    queue = priority if priorities else Priority.REALTIME  # off: every class is class 0
    for _ in range(200):  # bounded: the backlog queues within a few polls
        if len(granted) >= 1 and await _waiting(pool, org, queue) >= 8:
            break
        await asyncio.sleep(0.02)
    assert await _waiting(pool, org, queue) >= 8
    return tasks


async def _request(limiter: RateLimiter, priority: Priority, name: str,
                   granted: list[str]) -> None:
    async with limiter.slot(priority):
        granted.append(name)


@pytest.mark.parametrize("priorities", [True, False], ids=["priorities", "fifo"])
async def test_a_ping_does_not_wait_behind_a_full_syncs_backlog(
        pool: asyncpg.Pool, priorities: bool) -> None:
    org = f"budget-{uuid.uuid4().hex[:12]}"
    poller = process(pool, org, "poller", priorities=priorities)
    worker = process(pool, org, "worker", priorities=priorities)
    granted: list[str] = []
    backlog = await _backlog(pool, org, poller, Priority.FULL, granted, priorities=priorities)
    asked_at = len(granted)
    await _request(worker, Priority.REALTIME, "ping", granted)
    await asyncio.gather(*backlog)
    ahead = granted.index("ping") - asked_at  # full-sync requests granted while it waited
    if priorities:
        assert ahead <= 1, granted
    else:
        assert ahead >= 5, granted  # first come, first served: the ping waits its turn


@pytest.mark.parametrize("priorities", [True, False], ids=["priorities", "fifo"])
async def test_image_downloads_do_not_starve_a_sync(pool: asyncpg.Pool,
                                                     priorities: bool) -> None:
    org = f"budget-{uuid.uuid4().hex[:12]}"
    images = process(pool, org, "images", priorities=priorities)
    poller = process(pool, org, "poller", priorities=priorities)
    granted: list[str] = []
    downloads = await _backlog(pool, org, images, Priority.IMAGES, granted,
                               priorities=priorities)
    images_ahead: list[int] = []
    for page in range(4):  # a run pages one request after the other
        asked_at = len(granted)
        await _request(poller, Priority.SCHEDULED, f"page-{page}", granted)
        images_ahead.append(granted.index(f"page-{page}") - asked_at)
    await asyncio.gather(*downloads)
    if priorities:
        assert max(images_ahead) <= 1, granted
    else:
        assert images_ahead[0] >= 5, granted  # the first page waits for the queued images


async def test_a_dead_processs_ticket_leaves_the_queue(pool: asyncpg.Pool) -> None:
    org = f"budget-{uuid.uuid4().hex[:12]}"
    dead = PgLedger(pool.acquire, org_id=org, owner="dead", window_s=60.25, stale_s=0.5)
    first, orphan = Ticket(Priority.FULL), Ticket(Priority.REALTIME)
    assert (await dead.take(first, Limits(PER_MINUTE, 0.1))).granted
    assert not (await dead.take(orphan, Limits(PER_MINUTE, 0.1))).granted
    # Its process dies here: the REALTIME ticket heads the queue and is never asked again.
    alive = PgLedger(pool.acquire, org_id=org, owner="alive", window_s=60.25, stale_s=0.5)
    waiting, answer = Ticket(Priority.IMAGES), None
    for _ in range(200):  # bounded: the orphan expires after stale_s
        answer = await alive.take(waiting, Limits(PER_MINUTE, 0.1))
        if answer.granted:
            break
        await asyncio.sleep(max(answer.wait_s, 0.05))
    assert answer is not None and answer.granted
    assert await _waiting(pool, org, Priority.REALTIME) == 0
