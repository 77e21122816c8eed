"""Who goes next: the Zoho request budget served by priority class.

Every Zoho call of every process takes a ticket in one queue per organization; the head
of the queue (lowest class, then oldest ticket) is granted the next request the pace, the
window and the calls in flight allow. A higher class therefore waits behind a lower one
for one request at most (the one already granted), and a lower class spends only what the
higher ones leave. A granted request holds a lease (one place in flight) until released,
or until it lapses if its process died. The day's calls are counted per UTC day; each
class may spend its share of the daily limit (`DAILY_SHARE`), so the last part of the day
stays with the most urgent classes, and a 429/45 suspends every class.

`producers.zoho.pgbudget.PgLedger` keeps all of it in PostgreSQL (every process of the
org shares it); `MemoryLedger` keeps it in this process (no database, unit tests).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

DAY_S = 86_400.0


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


# The part of the daily limit each class may spend: the last 5 % is kept for webhook pings
# and write-backs, the 5 % before it for manual runs too, and so on down the classes.
DAILY_SHARE = {Priority.REALTIME: 1.0, Priority.MANUAL: 0.95, Priority.SCHEDULED: 0.90,
               Priority.FULL: 0.85, Priority.IMAGES: 0.80}


def daily_allowance(priority: int, daily: int | None) -> int | None:
    """The calls of the day a class may have granted before it stops (None: no limit)."""
    if daily is None:
        return None
    return math.floor(daily * DAILY_SHARE[Priority(priority)])


@dataclass(slots=True)
class Ticket:
    """One request's place in the queue (`key` is the ledger's, once it has one)."""

    priority: Priority
    key: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A ledger's reply: granted now, or worth asking again in `wait_s` (`head`: the
    ticket is next in line, so `wait_s` is exact; others poll). `suspended`: the class's
    share of the day is spent, or a 45 holds the org; `wait_s` is then until it ends.
    `day_used`: the org's calls granted today. `crowded`: every place in flight is taken
    (ask again once one is released)."""

    granted: bool
    wait_s: float
    head: bool
    suspended: bool = False
    day_used: int = 0
    crowded: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    """What one ask may be granted within (None: no limit of ours).

    `lease_s` bounds how long a granted call counts as in flight if never released;
    `poll_s` is how soon to ask again while every place in flight is taken."""

    per_minute: int
    pace_s: float
    concurrency: int | None = None
    daily: int | None = None
    lease_s: float = 45.0
    poll_s: float = 0.05


class Ledger(Protocol):
    """The queue, the calls in flight and the day's count of one organization."""

    async def take(self, ticket: Ticket, limits: Limits) -> Answer:
        """Grant `ticket` a request if it heads the queue and the budget allows."""
        ...

    async def leave(self, ticket: Ticket) -> None:
        """Withdraw a ticket that will not be used (its caller gave up)."""
        ...

    async def release(self, ticket: Ticket) -> None:
        """A granted call is over: its place in flight is free."""
        ...

    async def suspend(self, seconds: float) -> None:
        """Zoho said 45: no class of any process is granted a call for `seconds`."""
        ...

    async def crowded(self, concurrency: int, cool_s: float) -> int:
        """Zoho said 1070: lower the calls in flight allowed for `cool_s`; the allowance."""
        ...


class MemoryLedger:
    """The budget of this process only."""

    def __init__(self, *, time: Callable[[], float], window_s: float,
                 priorities: bool = True) -> None:
        self._time = time
        self._window_s = window_s
        self._priorities = priorities
        self._granted: deque[float] = deque()
        self._waiting: dict[int, int] = {}  # key -> class
        self._leases: dict[int, float] = {}  # key -> lapses at
        self._keys = itertools.count(1)
        self._day, self._used = -1, 0
        self._suspended_until = 0.0
        self._cap, self._cap_until = 0, 0.0

    async def take(self, ticket: Ticket, limits: Limits) -> Answer:
        """Grant `ticket` a request if it heads the queue and the budget allows."""
        now = self._time()
        priority = ticket.priority if self._priorities else 0
        day = int(now // DAY_S)
        if day != self._day:
            self._day, self._used = day, 0
        allowance = daily_allowance(priority, limits.daily)
        if now < self._suspended_until or (allowance is not None and self._used >= allowance):
            await self.leave(ticket)
            ticket.key = None
            until = self._suspended_until if now < self._suspended_until else \
                (day + 1) * DAY_S
            return Answer(False, until - now, False, True, self._used)
        if ticket.key is None:
            ticket.key = next(self._keys)
            self._waiting[ticket.key] = priority
        while self._granted and self._granted[0] <= now - self._window_s:
            self._granted.popleft()
        at = now
        if self._granted:
            at = max(at, self._granted[-1] + limits.pace_s)
        if len(self._granted) >= limits.per_minute:
            at = max(at, self._granted[-limits.per_minute] + self._window_s)
        crowded = self._flying(now) >= self._allowed(limits.concurrency, now)
        if crowded:
            at = max(at, now + limits.poll_s)
        head = min(self._waiting, key=lambda k: (self._waiting[k], k))
        if head == ticket.key and at <= now:
            del self._waiting[ticket.key]
            self._granted.append(now)
            self._leases[ticket.key] = now + limits.lease_s
            self._used += 1
            return Answer(True, 0.0, True, False, self._used)
        return Answer(False, at - now, head == ticket.key, False, self._used, crowded)

    def _flying(self, now: float) -> int:
        return sum(1 for until in self._leases.values() if until > now)

    def _allowed(self, concurrency: int | None, now: float) -> float:
        allowed = math.inf if concurrency is None else float(concurrency)
        return min(allowed, self._cap) if now < self._cap_until else allowed

    async def leave(self, ticket: Ticket) -> None:
        """Withdraw a ticket that will not be used."""
        if ticket.key is not None:
            self._waiting.pop(ticket.key, None)

    async def release(self, ticket: Ticket) -> None:
        """A granted call is over."""
        if ticket.key is not None:
            self._leases.pop(ticket.key, None)

    async def suspend(self, seconds: float) -> None:
        """Hold every class for `seconds`."""
        self._suspended_until = max(self._suspended_until, self._time() + seconds)

    async def crowded(self, concurrency: int, cool_s: float) -> int:
        """Lower the calls in flight allowed, below what flies now, for `cool_s`."""
        now = self._time()
        allowed = min(self._allowed(concurrency, now), self._flying(now))
        self._cap, self._cap_until = max(1, int(allowed) - 1), now + cool_s
        return self._cap


__all__ = ["DAILY_SHARE", "Answer", "Ledger", "Limits", "MemoryLedger", "Priority", "Ticket",
           "daily_allowance"]
