"""The Zoho request budget in PostgreSQL (`zoho_budget`, `zoho_budget_org`), shared by
every process of the organization: the priority queue, the leases of calls in flight,
the day's count and a 45's suspension (migrations 0080 and 0090)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg

from producers.zoho.budget import Answer, Limits, Ticket, daily_allowance
from producers.zoho.errors import ZohoBudgetUnavailable
from tds import postgres

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
    """The org's budget in PostgreSQL.

    A waiting ticket not asked about for `stale_s` (its process died) leaves the queue;
    waits are cut to a third of that so live tickets are always refreshed in time. A
    granted call's lease lapses after `Limits.lease_s` if its process never releases it."""

    def __init__(self, connect: Connect, *, org_id: str, owner: str, window_s: float,
                 stale_s: float = 15.0, priorities: bool = True) -> None:
        self._connect = connect
        self._org_id = org_id
        self._owner = owner
        self._window_s = window_s
        self._stale_s = stale_s
        self._priorities = priorities

    async def _fetchrow(self, query: str, *args: Any) -> asyncpg.Record:
        try:
            async with self._connect() as conn:
                row = await conn.fetchrow(query, *args)
        except DRIVER_ERRORS as exc:
            raise ZohoBudgetUnavailable(f"the Zoho request budget in PostgreSQL: {exc}") \
                from exc
        assert row is not None  # every query here returns one row
        return row

    async def take(self, ticket: Ticket, limits: Limits) -> Answer:
        """Grant `ticket` a request if it heads the queue and the budget allows."""
        priority = int(ticket.priority) if self._priorities else 0
        row = await self._fetchrow(
            "SELECT * FROM zoho_budget_take($1, $2, $3::smallint, $4, $5, $6, $7, $8, $9, "
            "$10, $11, $12)",
            self._org_id, ticket.key, priority, self._owner, limits.per_minute,
            limits.pace_s, self._window_s, self._stale_s, limits.concurrency,
            daily_allowance(priority, limits.daily), limits.lease_s, limits.poll_s)
        ticket.key = row["ticket"]
        wait_s = float(row["wait_s"])
        if row["suspended"]:
            return Answer(False, wait_s, False, True, int(row["day_used"]))
        return Answer(bool(row["granted"]), min(wait_s, self._stale_s / 3), bool(row["head"]),
                      False, int(row["day_used"]), bool(row["crowded"]))

    async def leave(self, ticket: Ticket) -> None:
        """Withdraw a ticket that will not be used."""
        if ticket.key is not None:
            await self._execute("DELETE FROM zoho_budget WHERE ticket = $1 AND "
                                "granted_at IS NULL", ticket.key)

    async def release(self, ticket: Ticket) -> None:
        """A granted call is over: its place in flight is free."""
        if ticket.key is not None:
            await self._execute("UPDATE zoho_budget SET lease_until = NULL WHERE ticket = $1",
                                ticket.key)

    async def suspend(self, seconds: float) -> None:
        """Zoho said 45: hold every process of the org for `seconds`."""
        await self._fetchrow("SELECT zoho_budget_suspend($1, $2)", self._org_id, seconds)

    async def crowded(self, concurrency: int, cool_s: float) -> int:
        """Zoho said 1070: lower the org's calls in flight for `cool_s`; the allowance."""
        row = await self._fetchrow("SELECT zoho_budget_crowded($1, $2, $3) AS cap",
                                   self._org_id, concurrency, cool_s)
        return int(row["cap"])

    async def _execute(self, query: str, *args: Any) -> None:
        try:
            async with self._connect() as conn:
                await conn.execute(query, *args)
        except DRIVER_ERRORS as exc:
            raise ZohoBudgetUnavailable(f"the Zoho request budget in PostgreSQL: {exc}") \
                from exc


__all__ = ["Connect", "PgLedger", "dsn_connect"]
