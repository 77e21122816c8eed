"""`outbound_commands`: the writer's memory of every command, intent before outcome.

The writer holds a PostgreSQL advisory lock on the command id (on one connection, for as
long as it works on the command), records `sending` before each Zoho call and the
outcome after it. A killed writer's connection closes and its lock goes with it, so the
next owner of the partition finds `sending` (outcome unknown) and checks Zoho first; a
writer that lost its partition in a rebalance but is still mid-call holds the lock, so
the new owner waits for its outcome instead of sending a second time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from schemas.outbound import APPLIED, CONFLICT, REJECTED, OutboundCommand

FINAL = (APPLIED, REJECTED, CONFLICT)
SENDING, RETRYING, DEAD = "sending", "retrying", "dead"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one command came to in Zoho."""

    status: str  # applied | rejected | conflict
    zoho_id: str | None = None
    zoho_version: str | None = None
    current_version: str | None = None  # a conflict: Zoho's newer version
    http_status: int | None = None
    zoho_code: int | None = None
    message: str | None = None
    answer: dict[str, Any] | None = None  # the record Zoho returned, or its refusal


@dataclass(frozen=True, slots=True)
class CommandRow:
    """The stored state of one command."""

    command_id: str
    status: str
    content_hash: str
    attempts: int
    outcome: Outcome | None  # set once final
    published: bool

    @property
    def final(self) -> bool:
        """Applied, rejected or conflict: nothing more is sent to Zoho for it."""
        return self.status in FINAL

    @property
    def unknown(self) -> bool:
        """A call was sent and its outcome never recorded: Zoho may hold its effect."""
        return not self.final and self.attempts > 0


_ADMIT = """INSERT INTO outbound_commands (command_id, org_id, entity_type, operation,
    entity_id, erp_ref, content_hash, command, status, requested_by, requested_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 'accepted', $9, $10)
ON CONFLICT (command_id) DO NOTHING"""
_ROW = """SELECT command_id, status, content_hash, attempts, zoho_id, zoho_version,
    current_version, http_status, zoho_code, message, answer::text AS answer,
    published_at IS NOT NULL AS published
FROM outbound_commands WHERE command_id = $1"""
_SENDING = """UPDATE outbound_commands SET status = 'sending', attempts = attempts + 1,
    sent_at = now(), updated_at = now() WHERE command_id = $1"""
_FINISH = """UPDATE outbound_commands SET status = $2, zoho_id = $3, zoho_version = $4,
    current_version = $5, http_status = $6, zoho_code = $7, message = $8,
    answer = $9::jsonb, completed_at = now(), updated_at = now()
WHERE command_id = $1"""
_RETRYING = """UPDATE outbound_commands SET status = 'retrying', message = $2,
    updated_at = now() WHERE command_id = $1 AND status NOT IN ('applied', 'rejected',
    'conflict')"""
_DEAD = """UPDATE outbound_commands SET status = 'dead', updated_at = now()
WHERE command_id = $1 AND status = 'retrying'"""
_PUBLISHED = """UPDATE outbound_commands SET published_at = now() WHERE command_id = $1"""
# 64-bit lock keys from the command id; a collision only serialises two commands.
_LOCK = "SELECT pg_advisory_lock(hashtextextended($1, 7014))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended($1, 7014))"


def _row(record: asyncpg.Record) -> CommandRow:
    outcome = None
    if record["status"] in FINAL:
        outcome = Outcome(record["status"], record["zoho_id"], record["zoho_version"],
                          record["current_version"], record["http_status"],
                          record["zoho_code"], record["message"],
                          orjson.loads(record["answer"]) if record["answer"] else None)
    return CommandRow(record["command_id"], record["status"], record["content_hash"],
                      record["attempts"], outcome, record["published"])


async def admit(conn: asyncpg.Connection, command: OutboundCommand) -> CommandRow:
    """Record the command as accepted unless its id is known; return the stored row."""
    await conn.execute(
        _ADMIT, command.command_id, command.org_id, command.entity_type, command.operation,
        command.entity_id, command.erp_ref, command.content_hash(),
        orjson.dumps(command.to_json()).decode(), command.requested_by, command.requested_at)
    found = await conn.fetchrow(_ROW, command.command_id)
    assert found is not None  # inserted, or there before
    return _row(found)


class Held:
    """One command under its advisory lock: reads and writes on the lock's connection."""

    def __init__(self, conn: asyncpg.Connection, command_id: str) -> None:
        self._conn, self.command_id = conn, command_id

    async def row(self) -> CommandRow:
        """The row as it is now (another writer may have finished it meanwhile)."""
        found = await self._conn.fetchrow(_ROW, self.command_id)
        assert found is not None
        return _row(found)

    async def sending(self) -> None:
        """Record the intent: a call is about to leave (committed before it does)."""
        await self._conn.execute(_SENDING, self.command_id)

    async def finish(self, outcome: Outcome) -> None:
        """Record the outcome."""
        answer = orjson.dumps(outcome.answer).decode() if outcome.answer is not None else None
        await self._conn.execute(
            _FINISH, self.command_id, outcome.status, outcome.zoho_id, outcome.zoho_version,
            outcome.current_version, outcome.http_status, outcome.zoho_code, outcome.message,
            answer)

    async def retrying(self, message: str) -> None:
        """The command goes through the retry chain (its outcome may be unknown)."""
        await self._conn.execute(_RETRYING, self.command_id, message[:2000])


class CommandStore:
    """The writer's access to `outbound_commands`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def admit(self, command: OutboundCommand) -> CommandRow:
        """See `admit`."""
        async with self._pool.acquire() as conn:
            return await admit(conn, command)

    @asynccontextmanager
    async def hold(self, command_id: str) -> AsyncIterator[Held]:
        """Wait for the command's lock (a writer still working on it keeps it), then hold it."""
        async with self._pool.acquire() as conn:
            await conn.execute(_LOCK, command_id)
            try:
                yield Held(conn, command_id)
            finally:
                if not conn.is_closed():
                    await conn.execute(_UNLOCK, command_id)

    async def published(self, command_id: str) -> None:
        """The command's result reached Kafka."""
        async with self._pool.acquire() as conn:
            await conn.execute(_PUBLISHED, command_id)

    @staticmethod
    async def dead(conn: asyncpg.Connection, command_id: str) -> None:
        """The retry chain gave up: the command waits in the dead letters."""
        await conn.execute(_DEAD, command_id)
