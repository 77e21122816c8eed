"""Session fixtures: the real Kafka and PostgreSQL (provisioned on first use) and
factories of unique topics, groups and schemas so tests never see each other's data."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import asyncpg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from tds.kafka import client_config
from tds.provision.__main__ import up
from tds.provision.common import Services


@pytest.fixture(scope="session")
def services() -> Services:
    """Kafka and PostgreSQL, started by the project (or the ones configured)."""
    return up()


@pytest.fixture(scope="session")
def kafka_bootstrap(services: Services) -> str:
    """host:port of the real broker."""
    return services.kafka_bootstrap_servers


@pytest.fixture(scope="session")
def database_url(services: Services) -> str:
    """DSN of the real PostgreSQL server."""
    return services.database_url


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic_factory(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """Create uniquely named topics; delete them after the test."""
    admin = AdminClient(client_config(kafka_bootstrap))
    made: list[str] = []

    def make(prefix: str = "t", partitions: int = 3, config: dict[str, str] | None = None) -> str:
        name = unique(f"test.{prefix}")
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1,
                      config=config or {})])
        futures[name].result(timeout=30)
        made.append(name)
        return name

    yield make
    if made:
        for future in admin.delete_topics(made, operation_timeout=30).values():
            future.result(timeout=30)


@pytest.fixture
def group_factory() -> Callable[[str], str]:
    """Unique consumer-group names."""

    def make(prefix: str = "g") -> str:
        return unique(f"test-{prefix}")

    return make


@pytest.fixture
async def pg_schema(database_url: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    name = unique("t").replace("-", "_")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
        yield name
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await conn.close()
