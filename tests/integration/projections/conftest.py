"""Fixtures of the projection tests: a migrated schema, a producer, and waiting helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import asyncpg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from schemas.events import EntitySynced
from tds.kafka import client_config, producer_config
from tds.migrate import apply

MIGRATIONS = Path(__file__).resolve().parents[3] / "projections" / "migrations"


@pytest.fixture
async def migrated(database_url: str, pg_schema: str) -> str:
    """A fresh schema with every migration applied."""
    await apply(database_url, MIGRATIONS, schema=pg_schema)
    return pg_schema


@pytest.fixture
async def pool(database_url: str, migrated: str) -> AsyncIterator[asyncpg.Pool]:
    """A small pool on the migrated schema."""
    created = await asyncpg.create_pool(
        database_url, min_size=1, max_size=4,
        server_settings={"search_path": migrated, "synchronous_commit": "off"})
    assert created is not None
    yield created
    await created.close()


def produce(bootstrap: str, topic: str, pairs: Iterable[tuple[bytes, EntitySynced]],
            *, headers: list[tuple[str, str | bytes]] | None = None) -> int:
    """Produce keyed events; returns how many."""
    producer = Producer(producer_config(bootstrap, **{"linger.ms": 20}))
    count = 0
    for key, event in pairs:
        producer.produce(topic, key=key, value=event.encode(), headers=headers)
        count += 1
        if count % 10_000 == 0:
            producer.flush(30)
    assert producer.flush(60) == 0
    return count


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The high watermark of each partition."""
    consumer = Consumer(client_config(bootstrap, **{"group.id": "watermarks"}))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in meta.partitions}
    finally:
        consumer.close()


async def stored_offsets(conn: asyncpg.Connection, group: str, topic: str) -> dict[int, int]:
    """What projection_offsets holds for a group and topic."""
    rows = await conn.fetch("SELECT partition, next_offset FROM projection_offsets "
                            "WHERE consumer_group = $1 AND topic = $2", group, topic)
    return {r["partition"]: r["next_offset"] for r in rows}


async def wait_caught_up(pool: asyncpg.Pool, group: str, topic: str, ends: dict[int, int],
                         *, timeout_s: float = 60.0) -> None:
    """Until the group's stored offsets reach `ends` (or fail after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    wanted = {p: o for p, o in ends.items() if o > 0}
    while True:
        async with pool.acquire() as conn:
            stored = await stored_offsets(conn, group, topic)
        if all(stored.get(p, 0) >= o for p, o in wanted.items()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not caught up after {timeout_s}s: {stored} < {wanted}")
        await asyncio.sleep(0.2)
