"""Consumer offsets kept in PostgreSQL (`projection_offsets`), written in the same
transaction as the rows they account for.

`claim` is a compare-and-set: a batch moves a partition from the offset this process last
read or wrote to the batch's end, and fails (`Fenced`) when another process moved it in
between, so a process that lost its partitions in a rebalance cannot apply a batch twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from consumers.batching import Claim
from consumers.errors import Fenced

_LOAD = """SELECT topic, partition, next_offset FROM projection_offsets
WHERE consumer_group = $1 AND (topic, partition) IN
      (SELECT * FROM unnest($2::text[], $3::integer[]))"""
_ADVANCE = """UPDATE projection_offsets o SET next_offset = c.end_, updated_at = now()
FROM unnest($2::text[], $3::integer[], $4::bigint[], $5::bigint[])
     AS c(topic, partition, start_, end_)
WHERE o.consumer_group = $1 AND o.topic = c.topic AND o.partition = c.partition
  AND o.next_offset = c.start_
RETURNING o.topic, o.partition"""
_CREATE = """INSERT INTO projection_offsets (consumer_group, topic, partition, next_offset)
SELECT $1, * FROM unnest($2::text[], $3::integer[], $4::bigint[])
ON CONFLICT DO NOTHING
RETURNING topic, partition"""
_RESTART = """UPDATE projection_offsets SET next_offset = $5, updated_at = now()
WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND next_offset = $4"""
_INCIDENT = """INSERT INTO offset_incidents (consumer_group, topic, partition, stored_offset,
restarted_from, reason) VALUES ($1, $2, $3, $4, $5, $6)"""


class PgOffsetStore:
    """Reads the stored offsets of one consumer group."""

    def __init__(self, pool: asyncpg.Pool, group: str) -> None:
        self._pool = pool
        self.group = group

    async def load(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The next offset of each partition that has one."""
        async with self._pool.acquire() as conn:
            return await load(conn, self.group, partitions)

    async def restart(self, topic: str, partition: int, *, stored: int, offset: int,
                      reason: str) -> None:
        """Move a partition whose stored position left the log to `offset`, and record
        the incident (health reports it); a concurrent move wins (compare-and-set)."""
        async with self._pool.acquire() as conn, conn.transaction():
            done = await conn.execute(_RESTART, self.group, topic, partition, stored, offset)
            if done.endswith(" 1"):
                await conn.execute(_INCIDENT, self.group, topic, partition, stored, offset,
                                   reason)


async def load(
    conn: asyncpg.Connection, group: str, partitions: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """The stored next offset of each of `partitions` that has one."""
    rows = await conn.fetch(_LOAD, group, [t for t, _ in partitions], [p for _, p in partitions])
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def claim(conn: asyncpg.Connection, group: str, claims: Sequence[Claim]) -> None:
    """Move each claimed partition to its end offset, or raise Fenced (roll back then)."""
    moved: set[tuple[str, int]] = set()
    known = [c for c in claims if c.start is not None]
    new = [c for c in claims if c.start is None]
    if known:
        rows = await conn.fetch(
            _ADVANCE, group, [c.topic for c in known], [c.partition for c in known],
            [c.start for c in known], [c.end for c in known])
        moved.update((r["topic"], r["partition"]) for r in rows)
    if new:
        rows = await conn.fetch(
            _CREATE, group, [c.topic for c in new], [c.partition for c in new],
            [c.end for c in new])
        moved.update((r["topic"], r["partition"]) for r in rows)
    lost = [(c.topic, c.partition) for c in claims if (c.topic, c.partition) not in moved]
    if lost:
        raise Fenced(group, lost)
