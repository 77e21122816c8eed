"""Migrations against the real PostgreSQL: applied once, safe under concurrency, atomic."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from tds.commands.migrate import MIGRATIONS
from tds.errors import MigrationError
from tds.migrate import apply, discover


async def test_applies_once(database_url: str, pg_schema: str) -> None:
    first = await apply(database_url, MIGRATIONS, schema=pg_schema)
    assert [m.number for m in first] == [m.number for m in discover(MIGRATIONS)]
    assert await apply(database_url, MIGRATIONS, schema=pg_schema) == []
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    try:
        rows = await conn.fetch("SELECT number FROM schema_migrations ORDER BY number")
        assert [r["number"] for r in rows] == [m.number for m in first]
        assert await conn.fetchval("SELECT count(*) FROM projection_offsets") == 0
    finally:
        await conn.close()


async def test_concurrent_runs_apply_each_file_once(
    database_url: str, pg_schema: str, tmp_path: Path
) -> None:
    # A counter table makes a double application visible.
    (tmp_path / "0001_counter.sql").write_text("CREATE TABLE counter (n int);")
    (tmp_path / "0002_bump.sql").write_text(
        "INSERT INTO counter VALUES (1); SELECT pg_sleep(0.2);")
    results = await asyncio.gather(
        *(apply(database_url, tmp_path, schema=pg_schema) for _ in range(5)))
    assert sorted(len(r) for r in results) == [0, 0, 0, 0, 2]
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    try:
        assert await conn.fetchval("SELECT count(*) FROM counter") == 1
    finally:
        await conn.close()


async def test_a_failing_migration_rolls_back(
    database_url: str, pg_schema: str, tmp_path: Path
) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE good (n int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (n int); SELECT nope FROM nowhere;")
    with pytest.raises(MigrationError, match="0002_bad failed"):
        await apply(database_url, tmp_path, schema=pg_schema)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": pg_schema})
    try:
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT to_regclass('good')") is not None
        assert await conn.fetchval("SELECT max(number) FROM schema_migrations") == 1
    finally:
        await conn.close()


def test_badly_named_and_duplicate_files(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        discover(tmp_path)
    (tmp_path / "1_x.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0001_b.sql").write_text("")
    with pytest.raises(MigrationError, match="two migrations numbered 0001"):
        discover(tmp_path)
