"""Who goes next: the Zoho request budget served by priority class.

Every Zoho call of every process takes a ticket in one queue per organization; the head
of the queue (lowest class, then oldest ticket) is granted the next request the pace and
the window allow. A higher class therefore waits behind a lower one for one request at
most (the one already granted), and a lower class spends only what the higher ones leave.

`PgLedger` keeps the queue in PostgreSQL (every process of the org shares it);
`MemoryLedger` keeps it in this process (no database, unit tests).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import asyncpg

from producers.zoho.errors import ZohoBudgetUnavailable
from tds import postgres


class Priority(IntEnum):
    """Budget classes, most urgent first."""

    REALTIME = 0  # webhook pings completed from Zoho, and write-backs
    MANUAL = 1  # runs a person asked for
    SCHEDULED = 2  # scheduled incremental and stock syncs
    FULL = 3  # full syncs (backfills)
    IMAGES = 4  # item image downloads

    @property
    def label(self) -> str:
        """The metrics label."""
        return self.name.lower()


@dataclass(slots=True)
class Ticket:
    """One request's place in the queue (`key` is the ledger's, once it has one)."""

    priority: Priority
    key: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A ledger's reply: granted now, or worth asking again in `wait_s` (`head`: the
    ticket is next in line, so `wait_s` is exact; others poll)."""

    granted: bool
    wait_s: float
    head: bool


class Ledger(Protocol):
    """The queue and the record of granted requests of one organization."""

    async def take(self, ticket: Ticket, *, per_minute: int, pace_s: float) -> Answer:
        """Grant `ticket` a request if it heads the queue and the budget allows."""
        ...

    async def leave(self, ticket: Ticket) -> None:
        """Withdraw a ticket that will not be used (its caller gave up)."""
        ...


class MemoryLedger:
    """The queue of this process only."""

    def __init__(self, *, time: Callable[[], float], window_s: float,
                 priorities: bool = True) -> None:
        self._time = time
        self._window_s = window_s
        self._priorities = priorities
        self._granted: deque[float] = deque()
        self._waiting: dict[int, int] = {}  # key -> class
        self._keys = itertools.count(1)

    async def take(self, ticket: Ticket, *, per_minute: int, pace_s: float) -> Answer:
        """Grant `ticket` a request if it heads the queue and the budget allows."""
        if ticket.key is None:
            ticket.key = next(self._keys)
            self._waiting[ticket.key] = ticket.priority if self._priorities else 0
        now = self._time()
        while self._granted and self._granted[0] <= now - self._window_s:
            self._granted.popleft()
        at = now
        if self._granted:
            at = max(at, self._granted[-1] + pace_s)
        if len(self._granted) >= per_minute:
            at = max(at, self._granted[-per_minute] + self._window_s)
        head = min(self._waiting, key=lambda k: (self._waiting[k], k))
        if head == ticket.key and at <= now:
            del self._waiting[ticket.key]
            self._granted.append(now)
            return Answer(True, 0.0, True)
        return Answer(False, at - now, head == ticket.key)

    async def leave(self, ticket: Ticket) -> None:
        """Withdraw a ticket that will not be used."""
        if ticket.key is not None:
            self._waiting.pop(ticket.key, None)


Connect = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]
DRIVER_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def dsn_connect(dsn: str) -> Connect:
    """Connections from a small pool of our own, opened at first use (for a process
    that has no pool, like a stream worker completing pings)."""
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def connect() -> AsyncIterator[asyncpg.Connection]:
        if not pools:
            pools.append(await postgres.create_pool(dsn, min_size=1, max_size=2))
        async with pools[0].acquire() as conn:
            yield conn

    return connect


class PgLedger:
    """The queue in PostgreSQL (`zoho_budget`), shared by every process of the org.

    A waiting ticket not asked about for `stale_s` (its process died) leaves the queue;
    waits are cut to a third of that so live tickets are always refreshed in time."""

    def __init__(self, connect: Connect, *, org_id: str, owner: str, window_s: float,
                 stale_s: float = 15.0, priorities: bool = True) -> None:
        self._connect = connect
        self._org_id = org_id
        self._owner = owner
        self._window_s = window_s
        self._stale_s = stale_s
        self._priorities = priorities

    async def take(self, ticket: Ticket, *, per_minute: int, pace_s: float) -> Answer:
        """Grant `ticket` a request if it heads the queue and the budget allows."""
        priority = int(ticket.priority) if self._priorities else 0
        try:
            async with self._connect() as conn:
                row = await conn.fetchrow(
                    "SELECT ticket, granted, head, wait_s FROM zoho_budget_take("
                    "$1, $2, $3::smallint, $4, $5, $6, $7, $8)",
                    self._org_id, ticket.key, priority, self._owner, per_minute, pace_s,
                    self._window_s, self._stale_s)
        except DRIVER_ERRORS as exc:
            raise ZohoBudgetUnavailable(f"the Zoho request budget in PostgreSQL: {exc}") \
                from exc
        assert row is not None  # the function always returns one row
        ticket.key = row["ticket"]
        return Answer(bool(row["granted"]), min(float(row["wait_s"]), self._stale_s / 3),
                      bool(row["head"]))

    async def leave(self, ticket: Ticket) -> None:
        """Withdraw a ticket that will not be used."""
        if ticket.key is None:
            return
        try:
            async with self._connect() as conn:
                await conn.execute("DELETE FROM zoho_budget WHERE ticket = $1 AND "
                                   "granted_at IS NULL", ticket.key)
        except DRIVER_ERRORS as exc:
            raise ZohoBudgetUnavailable(f"the Zoho request budget in PostgreSQL: {exc}") \
                from exc


__all__ = ["Answer", "Ledger", "MemoryLedger", "PgLedger", "Priority", "Ticket", "dsn_connect"]
