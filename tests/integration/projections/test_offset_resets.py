"""The projector under Kafka's own tools: a reset made with `kafka-consumer-groups.sh`
while the group is stopped re-applies from there (damaged and deleted rows come back,
nothing else changes, the audit log gains nothing); a topic recreated under the stored
positions restarts from its start, said in the log, a metric and health."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from api import queries
from bench.projector.events import Workload
from consumers.positions import OWN_TAG
from projections.projector import ProjectorTopics, run
from tds.kafka import client_config, consumer_config
from tds.metrics import Metrics
from tds.provision.common import Services
from tds.retry import RetryPolicy
from tests.conftest import unique
from tests.integration.projections.conftest import end_offsets, produce, wait_caught_up
from tests.integration.projections.oracle import actual, differences, expected

TopicFactory = Callable[..., str]
Until = Callable[[], Awaitable[bool]]


def kafka_bin(services_home: str, tool: str) -> str:
    """A console script of the provisioned Kafka."""
    path = Path(services_home) / "bin" / tool
    assert path.is_file(), f"{path} missing: make up installs Kafka's console scripts"
    return str(path)


async def _project_until(pool: asyncpg.Pool, bootstrap: str, group: str, topic: str,
                         done: Until, metrics: Metrics, timeout_s: float = 90) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run(
        pool=pool, bootstrap=bootstrap, group=group, topics=ProjectorTopics(topic, "", ""),
        policy=RetryPolicy((1.0,)), metrics=metrics, stop=stop, batch_size=100))
    deadline = time.monotonic() + timeout_s
    try:
        while not await done():
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, "projector did not get there in time"
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await task


def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[TopicPartition]:
    consumer = Consumer(consumer_config(bootstrap, group))
    try:
        return list(consumer.committed([TopicPartition(topic, p) for p in range(partitions)],
                                       timeout=10))
    finally:
        consumer.close()


def _count(metrics: Metrics, name: str, group: str, topic: str) -> float:
    value = metrics.registry.get_sample_value(name, {"group": group, "topic": topic})
    return value or 0.0


RESETS = {
    "to-earliest": ["--to-earliest"],
    "to-datetime": ["--to-datetime", "{before}"],
    "shift-by": ["--shift-by", "-100000"],
    "to-offset": ["--to-offset", "0"],
}


@pytest.mark.parametrize("how", sorted(RESETS))
async def test_a_reset_with_kafka_consumer_groups_reapplies_from_there(
    how: str, pool: asyncpg.Pool, services: Services, kafka_bootstrap: str,
    topic_factory: TopicFactory, group_factory: Callable[[str], str],
) -> None:
    topic = topic_factory("synced", partitions=3)
    group = group_factory("proj")
    before = datetime.now(UTC) - timedelta(seconds=5)
    pairs = list(Workload(keys=80, seed=5).stream(800))
    produce(kafka_bootstrap, topic, pairs)
    ends = end_offsets(kafka_bootstrap, topic)
    metrics = Metrics.create()

    async def caught_up() -> bool:
        await wait_caught_up(pool, group, topic, ends, timeout_s=90)
        return True

    await _project_until(pool, kafka_bootstrap, group, topic, caught_up, metrics)
    async with pool.acquire() as conn:
        healthy = await actual(conn)
        assert differences(expected(e for _, e in pairs), healthy) == []
        audit = await conn.fetchval("SELECT count(*) FROM audit_log")
        ids = [r["item_id"] for r in await conn.fetch(
            "SELECT item_id FROM items ORDER BY item_id LIMIT 6")]
        await conn.execute("UPDATE items SET name = 'damaged', raw = '{}'::jsonb "
                           "WHERE item_id = ANY($1::text[])", ids[:3])
        await conn.execute("DELETE FROM items WHERE item_id = ANY($1::text[])", ids[3:])
        assert differences(healthy, await actual(conn)) != []

    args = [a.format(before=before.strftime("%Y-%m-%dT%H:%M:%S.000")) for a in RESETS[how]]
    tool = await asyncio.to_thread(
        subprocess.run,
        [kafka_bin(services.kafka_home, "kafka-consumer-groups.sh"), "--bootstrap-server",
         kafka_bootstrap,
         "--group", group, "--topic", topic, "--reset-offsets", *args, "--execute"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "TZ": "UTC"})
    assert tool.returncode == 0, tool.stderr
    assert all(tp.offset == 0 and not (tp.metadata or "").startswith(OWN_TAG)
               for tp in _committed(kafka_bootstrap, group, topic, 3)), tool.stdout

    async def healed() -> bool:
        async with pool.acquire() as conn:
            rows_ok = differences(healthy, await actual(conn)) == []
        commits = _committed(kafka_bootstrap, group, topic, 3)
        return rows_ok and all(tp.offset == ends[tp.partition] for tp in commits)

    await _project_until(pool, kafka_bootstrap, group, topic, healed, metrics)
    assert _count(metrics, "tds_offset_resets_followed_total", group, topic) == 3
    async with pool.acquire() as conn:
        assert differences(healthy, await actual(conn)) == []  # nothing else changed
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == audit
        assert await conn.fetchval("SELECT count(*) FROM offset_incidents") == 0
    # Done: the commits are the projector's own again, so a restart re-applies nothing.
    assert all((tp.metadata or "").startswith(OWN_TAG)
               for tp in _committed(kafka_bootstrap, group, topic, 3))


async def test_a_topic_recreated_under_a_running_projector_restarts_from_its_start(
    pool: asyncpg.Pool, kafka_bootstrap: str, group_factory: Callable[[str], str],
) -> None:
    topic = unique("test.recreated")
    admin = AdminClient(client_config(kafka_bootstrap))

    def create() -> None:
        for _ in range(100):  # the deletion completes asynchronously
            future = admin.create_topics([NewTopic(topic, 2, 1)])[topic]
            try:
                future.result(timeout=30)
                return
            except Exception as exc:
                if "already exists" not in str(exc) and "marked for deletion" not in str(exc):
                    raise
                time.sleep(0.2)
        raise AssertionError(f"{topic} could not be created again")

    create()
    group = group_factory("proj")
    first = list(Workload(keys=50, seed=7).stream(400))
    produce(kafka_bootstrap, topic, first)
    ends = end_offsets(kafka_bootstrap, topic)
    # Fewer events than before, of other records: each partition's new log ends before the
    # position stored for the old one, where a projector trusting it would wait forever.
    second = [(k + b"-new", dataclasses.replace(e, entity_id="new-" + e.entity_id))
              for k, e in Workload(keys=5, seed=8, types=("item",), delete_rate=0).stream(20)]
    metrics = Metrics.create()
    state = {"recreated": False}

    async def after_recreation() -> bool:
        if not state["recreated"]:
            await wait_caught_up(pool, group, topic, ends, timeout_s=90)
            for future in admin.delete_topics([topic], operation_timeout=30).values():
                future.result(timeout=30)
            create()
            produce(kafka_bootstrap, topic, second)
            state["recreated"] = True
            return False
        async with pool.acquire() as conn:
            new = await conn.fetchval("SELECT count(*) FROM items WHERE item_id LIKE 'new-%'")
        return bool(new == len({e.entity_id for _, e in second}))

    try:
        await _project_until(pool, kafka_bootstrap, group, topic, after_recreation, metrics,
                             timeout_s=120)
        assert _count(metrics, "tds_offsets_out_of_range_total", group, topic) >= 1
        async with pool.acquire() as conn:
            problems = await queries.offset_incidents(conn)
        assert problems and all(f"{group} {topic}[" in p and "beyond the log end" in p
                                for p in problems), problems
    finally:
        admin.delete_topics([topic], operation_timeout=30)


async def test_the_groups_kafka_lag_agrees_with_postgresql_after_assignment(
    pool: asyncpg.Pool, kafka_bootstrap: str, topic_factory: TopicFactory,
    group_factory: Callable[[str], str],
) -> None:
    """A commit behind PostgreSQL's position (the projector died between its two commits)
    on a partition that gets no new event: the stream workers' downstream gate reads the
    group's lag from Kafka's commits, and kept bulk input paused on it. At assignment the
    projector commits where PostgreSQL has it, so the lag read from Kafka is the real one."""
    from tds.kafka import GroupOffsets, partition_lags

    topic = topic_factory("synced", partitions=3)
    group = group_factory("proj")
    produce(kafka_bootstrap, topic, list(Workload(keys=60, seed=9).stream(300)))
    ends = end_offsets(kafka_bootstrap, topic)
    metrics = Metrics.create()

    async def caught_up() -> bool:
        await wait_caught_up(pool, group, topic, ends, timeout_s=90)
        return True

    await _project_until(pool, kafka_bootstrap, group, topic, caught_up, metrics)
    # Behind the system's back: the projector's own (tagged) commit, far behind.
    stale = Consumer(consumer_config(kafka_bootstrap, group))
    stale.commit(offsets=[TopicPartition(topic, 0, 3, f"{OWN_TAG}3")], asynchronous=False)
    stale.close()

    def lag() -> int:
        offsets = GroupOffsets(kafka_bootstrap, client_id="test-gate")
        try:
            committed = offsets.committed(group, [TopicPartition(topic, p) for p in range(3)],
                                          10)
        finally:
            offsets.close()
        return sum(p.lag for p in partition_lags(
            group, committed, {(topic, p): end for p, end in ends.items()}))

    assert lag() == ends[0] - 3

    async def agrees() -> bool:
        return await asyncio.to_thread(lag) == 0

    await _project_until(pool, kafka_bootstrap, group, topic, agrees, metrics, timeout_s=30)
    async with pool.acquire() as conn:  # nothing was applied again
        assert await conn.fetchval("SELECT count(*) FROM offset_incidents") == 0
