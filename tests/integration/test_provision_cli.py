"""Provisioning is idempotent and honest; the `tds` command works against its services."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
import pytest

from tds.errors import ProvisionError
from tds.provision.__main__ import up
from tds.provision.common import Services
from tds.provision.kafka import ensure_kafka
from tds.provision.postgres import ensure_postgres


def test_second_call_reuses_what_runs(services: Services) -> None:
    assert up() == services


def test_configured_but_unreachable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    with pytest.raises(ProvisionError, match="no broker answers there"):
        ensure_kafka()
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(ProvisionError, match="that server does not answer"):
        ensure_postgres()


def test_configured_and_reachable_is_used(services: Services,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", services.kafka_bootstrap_servers)
    monkeypatch.setenv("DATABASE_URL", services.database_url)
    assert ensure_kafka() == services.kafka_bootstrap_servers
    assert ensure_postgres() == services.database_url


def _tds(services: Services, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": services.kafka_bootstrap_servers,
           "DATABASE_URL": services.database_url}
    return subprocess.run([sys.executable, "-m", "tds.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def test_tds_topics_create_twice(services: Services) -> None:
    first = _tds(services, "topics", "create")
    assert first.returncode == 0, first.stderr
    second = _tds(services, "topics", "create")
    assert second.returncode == 0, second.stderr
    assert "created 0 topic(s)" in second.stdout
    assert "topics match the catalogue" in second.stdout


async def test_tds_migrate_twice(services: Services, pg_schema: str) -> None:
    first = _tds(services, "migrate", "--schema", pg_schema)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_core" in first.stdout
    second = _tds(services, "migrate", "--schema", pg_schema)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "database is up to date"
    conn = await asyncpg.connect(services.database_url)
    try:
        count = await conn.fetchval(
            f'SELECT count(*) FROM "{pg_schema}".schema_migrations')
        assert count >= 1
    finally:
        await conn.close()


def test_bad_setting_stops_with_its_name(services: Services) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tds.cli", "migrate"], capture_output=True, text=True,
        env={**os.environ, "TDS_BATCH_SIZE": "lots"}, timeout=60, check=False)
    assert result.returncode == 2
    assert "TDS_BATCH_SIZE='lots' is not a whole number (1-10000)" in result.stderr


async def test_a_stopped_server_comes_back_with_its_data(services: Services) -> None:
    import uuid

    import asyncpg

    from tds.provision.postgres import _bin, _run, pg_home

    # Its own schema, not the pg_schema fixture: that one's connection dies with the server.
    pg_schema = f"t_restart_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(services.database_url)
    await conn.execute(f'CREATE SCHEMA "{pg_schema}"; CREATE TABLE "{pg_schema}".marker (n int); '
                       f'INSERT INTO "{pg_schema}".marker VALUES (42)')
    await conn.close()
    _run([_bin("pg_ctl"), "-D", str(pg_home() / "data"), "-m", "fast", "-w", "stop"],
         "pg_ctl stop")
    assert up() == services  # started again on the same port and data, not re-initialised
    conn = await asyncpg.connect(services.database_url)
    try:
        assert await conn.fetchval(f'SELECT n FROM "{pg_schema}".marker') == 42
    finally:
        await conn.execute(f'DROP SCHEMA "{pg_schema}" CASCADE')
        await conn.close()
