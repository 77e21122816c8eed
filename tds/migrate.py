"""Numbered SQL migrations: each file applied once, in order, under an advisory lock."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tds import postgres
from tds.errors import MigrationError

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^(?P<number>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same in every TDS process.
_LOCK_KEY = 0x7D5_0001


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: its number, name, text and checksum."""

    number: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL text, to notice a file edited after it was applied."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(folder: Path) -> list[Migration]:
    """Every `NNNN_name.sql` in `folder`, by number; duplicates are an error."""
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        number = int(match["number"])
        if number in found:
            raise MigrationError(f"two migrations numbered {number:04d}: "
                                 f"{found[number].name} and {match['name']}")
        found[number] = Migration(number, match["name"], path.read_text())
    return [found[n] for n in sorted(found)]


async def apply(
    dsn: str, folder: Path, *, schema: str | None = None
) -> list[Migration]:
    """Apply the migrations not yet applied; return those applied by this call."""
    migrations = discover(folder)
    settings = {"search_path": schema} if schema else {}
    try:
        conn = await postgres.connect(dsn, server_settings=settings)
    except (OSError, asyncpg.PostgresError) as exc:
        raise MigrationError(f"cannot connect to PostgreSQL: {exc}") from exc
    try:
        if schema:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        # Session lock: a second `tds migrate` waits here instead of racing.
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            return await _apply_locked(conn, migrations)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()


async def _apply_locked(conn: asyncpg.Connection, migrations: list[Migration]) -> list[Migration]:
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               number integer PRIMARY KEY,
               name text NOT NULL,
               checksum text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    rows = await conn.fetch("SELECT number, name, checksum FROM schema_migrations")
    applied = {row["number"]: row for row in rows}
    done: list[Migration] = []
    for migration in migrations:
        row = applied.get(migration.number)
        if row is not None:
            if row["checksum"] != migration.checksum:
                logger.warning("migration %04d_%s changed after it was applied",
                               migration.number, migration.name)
            continue
        try:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (number, name, checksum) VALUES ($1, $2, $3)",
                    migration.number, migration.name, migration.checksum,
                )
        except asyncpg.PostgresError as exc:
            raise MigrationError(
                f"migration {migration.number:04d}_{migration.name} failed: {exc}"
            ) from exc
        logger.info("applied migration %04d_%s", migration.number, migration.name)
        done.append(migration)
    return done
