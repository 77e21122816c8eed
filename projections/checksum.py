"""Order-independent table checksums: equal multisets of rows give equal checksums.

Each row's text form is hashed (md5); two 60-bit slices of the hashes are summed. The
sums do not depend on physical order, so a table rebuilt from the log and the one it
replaces compare equal exactly when they hold the same rows.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from projections.sql import q

_SECOND_CONNECTION_S = 0.5


@dataclass(frozen=True, slots=True)
class Checksum:
    """Row count and digest of one table."""

    table: str
    rows: int
    digest: str

    def matches(self, other: Checksum) -> bool:
        """Same rows (the table names may differ)."""
        return (self.rows, self.digest) == (other.rows, other.digest)


async def checksum(conn: asyncpg.Connection, table: str, *, label: str | None = None) -> Checksum:
    """Checksum of `table` as `conn` sees it now."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, "
        "coalesce(sum(('x' || substr(h, 1, 15))::bit(60)::bigint::numeric), 0) AS a, "
        "coalesce(sum(('x' || substr(h, 16, 15))::bit(60)::bigint::numeric), 0) AS b "
        f"FROM (SELECT md5(t::text) AS h FROM {q(table)} t) s")
    assert row is not None
    digest = hashlib.sha256(f"{row['a']}:{row['b']}".encode()).hexdigest()[:24]
    return Checksum(label or table, row["n"], digest)


@dataclass(frozen=True, slots=True)
class TableCheck:
    """Live and rebuilt checksums of one table."""

    live: Checksum
    rebuilt: Checksum

    @property
    def identical(self) -> bool:
        """Whether both hold the same rows."""
        return self.live.matches(self.rebuilt)


async def _checksums(conn: asyncpg.Connection, tables: Sequence[str]) -> list[Checksum]:
    return [await checksum(conn, table) for table in tables]


async def compare(conn: asyncpg.Connection, pool: asyncpg.Pool,
                  pairs: Sequence[tuple[str, str]]) -> list[TableCheck]:
    """Checksums of each (live, rebuilt) pair: the rebuilt tables through `conn`, the
    live ones at the same time on a second connection when `pool` has one free (the
    caller makes sure the live tables cannot change meanwhile; a replay holds the lock
    the live projector takes before its first write)."""
    labels = [live for live, _ in pairs]
    try:
        other = await pool.acquire(timeout=_SECOND_CONNECTION_S)
    except TimeoutError:  # e.g. a live projector sharing the pool holds the other one
        other = None
    if other is None:
        live_sums = await _checksums(conn, labels)
        rebuilt = [await checksum(conn, r, label=live) for live, r in pairs]
        return [TableCheck(a, b) for a, b in zip(live_sums, rebuilt, strict=True)]
    summing = asyncio.create_task(_checksums(other, labels))
    try:
        rebuilt = [await checksum(conn, r, label=live) for live, r in pairs]
        live_sums = await summing
    finally:
        if not summing.done():
            summing.cancel()
        await asyncio.gather(summing, return_exceptions=True)
        await pool.release(other)
    return [TableCheck(a, b) for a, b in zip(live_sums, rebuilt, strict=True)]
