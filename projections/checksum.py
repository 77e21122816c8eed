"""Order-independent table checksums: equal multisets of rows give equal checksums.

Each row's text form is hashed (md5); two 60-bit slices of the hashes are summed. The
sums do not depend on physical order, so a table rebuilt from the log and the one it
replaces compare equal exactly when they hold the same rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import asyncpg

from projections.sql import q


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
