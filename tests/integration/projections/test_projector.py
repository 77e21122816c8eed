"""The projector against the real Kafka and PostgreSQL: every model, exactly once; poison
messages go through the retry chain; two processes share partitions; fencing."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from confluent_kafka import Consumer, Producer

from bench.projector.events import ORG, Workload, event
from consumers.batching import Claim
from consumers.errors import Fenced
from consumers.offsets import claim
from projections.projector import ProjectorTopics, run
from schemas.events import SyncRunEvent
from schemas.topics import entity_key
from tds.kafka import consumer_config, producer_config
from tds.metrics import Metrics
from tds.retry import H_ERROR_CLASS, H_REASON, H_STAGE, RetryPolicy
from tests.integration.projections.conftest import end_offsets, produce, wait_caught_up
from tests.integration.projections.oracle import actual, differences, expected

TopicFactory = Callable[..., str]


async def _project(pool: asyncpg.Pool, bootstrap: str, group: str, topics: ProjectorTopics,
                   ends: dict[int, int], *, prefix: str = "", batch_size: int = 500,
                   members: int = 1, also: tuple[str, dict[int, int]] | None = None) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(run(
        pool=pool, bootstrap=bootstrap, group=group, topics=topics,
        policy=RetryPolicy((1.0, 2.0)), metrics=Metrics.create(), stop=stop,
        batch_size=batch_size, topic_for=(lambda t: prefix) if prefix else None))
        for _ in range(members)]
    async def caught_up() -> None:
        await wait_caught_up(pool, group, topics.entity, ends, timeout_s=90)
        if also is not None:
            await wait_caught_up(pool, group, also[0], also[1], timeout_s=30)

    waiter = asyncio.create_task(caught_up())
    try:
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        await waiter if waiter.done() else None
    finally:
        stop.set()
        waiter.cancel()
        await asyncio.gather(*tasks)


async def test_every_model_exactly_once(
    pool: asyncpg.Pool, kafka_bootstrap: str, topic_factory: TopicFactory,
    group_factory: Callable[[str], str],
) -> None:
    topic = topic_factory("synced", partitions=3)
    runs = topic_factory("runs", partitions=1)
    pairs = list(Workload(keys=150, seed=3).stream(3000))
    # Redeliveries and late stale copies change nothing.
    rng = random.Random(1)
    pairs += rng.sample(pairs, 300)
    produce(kafka_bootstrap, topic, pairs)
    started = datetime(2025, 3, 1, tzinfo=UTC)
    run_events = [
        SyncRunEvent(event_id="e2", run_id="r1", status="completed", run_type="full",
                     source="zoho", org_id=ORG, entity_types=["item"],
                     at=started + timedelta(minutes=5), started_at=started, seen=10,
                     changed=7, unchanged=3),
        SyncRunEvent(event_id="e1", run_id="r1", status="started", run_type="full",
                     source="zoho", org_id=ORG, entity_types=["item"], at=started),
    ]
    producer = Producer(producer_config(kafka_bootstrap))
    for item in run_events:  # completed first: the terminal state must still win
        producer.produce(runs, key=b"r1", value=item.encode())
    producer.flush(10)
    group = group_factory("proj")
    topics = ProjectorTopics(topic, runs, "")
    await _project(pool, kafka_bootstrap, group, topics, end_offsets(kafka_bootstrap, topic),
                   also=(runs, end_offsets(kafka_bootstrap, runs)))

    async with pool.acquire() as conn:
        assert differences(expected(e for _, e in pairs), await actual(conn)) == []
        duplicates = await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM audit_log GROUP BY table_name, topic, "
            "kafka_partition, kafka_offset HAVING count(*) > 1) d")
        assert duplicates == 0
        # Each record's last audit entry names the version its row holds.
        mismatched = await conn.fetchval(
            "SELECT count(*) FROM items i JOIN LATERAL (SELECT event_id FROM audit_log a "
            "WHERE a.table_name = 'items' AND a.entity_id = i.item_id ORDER BY id DESC "
            "LIMIT 1) last ON true WHERE last.event_id <> i.event_id")
        assert mismatched == 0
        run_row = await conn.fetchrow("SELECT * FROM sync_runs WHERE run_id = 'r1'")
        assert run_row["status"] == "completed" and run_row["seen"] == 10
        assert run_row["started_at"] == started
        assert run_row["finished_at"] == started + timedelta(minutes=5)
    # Kafka sees the same offsets, so lag shows in Kafka's tooling.
    consumer = Consumer(consumer_config(kafka_bootstrap, group))
    try:
        from confluent_kafka import TopicPartition
        ends = end_offsets(kafka_bootstrap, topic)
        committed = consumer.committed([TopicPartition(topic, p) for p in ends], timeout=10)
        assert {tp.partition: tp.offset for tp in committed} == ends
    finally:
        consumer.close()


async def test_poison_messages_go_through_the_retry_chain(
    pool: asyncpg.Pool, kafka_bootstrap: str, topic_factory: TopicFactory,
    group_factory: Callable[[str], str],
) -> None:
    topic = topic_factory("synced", partitions=1)
    dlq = topic_factory("dlq", partitions=1)
    prefix = f"{topic}."
    retry1 = topic_factory("r1", partitions=1)  # stands for {prefix}tds.retry.1
    at = datetime(2025, 5, 1, tzinfo=UTC)
    good = [(entity_key(ORG, "contact", str(n)), event("contact", str(n), at=at, offset=n))
            for n in range(20)]
    bad = event("contact", "99", at=at, offset=99)
    assert bad.record is not None
    bad = dataclasses.replace(bad, record={**bad.record, "contact_name": "nul\x00byte"})
    producer = Producer(producer_config(kafka_bootstrap))
    for key, item in good[:10]:
        producer.produce(topic, key=key, value=item.encode())
    producer.produce(topic, key=entity_key(ORG, "contact", "99"), value=bad.encode())
    producer.produce(topic, key=b"x:contact:1", value=b"not avro at all")
    for key, item in good[10:]:
        producer.produce(topic, key=key, value=item.encode())
    producer.flush(10)
    routes = {f"{prefix}tds.retry.1": retry1, f"{prefix}tds.deadletter": dlq}

    group = group_factory("poison")
    stop = asyncio.Event()
    task = asyncio.create_task(run(
        pool=pool, bootstrap=kafka_bootstrap, group=group,
        topics=ProjectorTopics(topic, "", ""), policy=RetryPolicy((1.0,)),
        metrics=Metrics.create(), stop=stop, batch_size=100,
        topic_for=lambda t: routes[f"{prefix}{t}"]))
    try:
        await wait_caught_up(pool, group, topic, end_offsets(kafka_bootstrap, topic))
    finally:
        stop.set()
        await task
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 20
    # Neither can ever succeed: both are dead letters at once, bytes unchanged; the
    # partition went on past them.
    assert end_offsets(kafka_bootstrap, retry1) == {0: 0}
    assert end_offsets(kafka_bootstrap, dlq) == {0: 2}
    consumer = Consumer(consumer_config(kafka_bootstrap, group_factory("peek")))
    consumer.subscribe([dlq])
    try:
        found = {}
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None:
                found[message.value()] = dict(message.headers() or [])
            if len(found) == 2:
                break
        assert set(found) == {bad.encode(), b"not avro at all"}
        assert found[bad.encode()][H_ERROR_CLASS] == b"RowRejected"
        assert found[b"not avro at all"][H_ERROR_CLASS] == b"CodecError"
        assert all(h[H_STAGE] == b"projector" and h[H_REASON] == b"invalid"
                   for h in found.values())
    finally:
        consumer.close()


@pytest.mark.parametrize("types", [None, ("item", "stock")], ids=["all", "item+stock"])
async def test_two_members_share_partitions_and_apply_each_event_once(
    pool: asyncpg.Pool, kafka_bootstrap: str, topic_factory: TopicFactory,
    group_factory: Callable[[str], str], types: tuple[str, ...] | None,
) -> None:
    # item+stock: an item's two keys land on partitions of different members, which then
    # write the same item_stock rows at once.
    topic = topic_factory("synced", partitions=4)
    sink = topic_factory("sink", partitions=1)
    shape = Workload(keys=100, seed=11) if types is None else \
        Workload(keys=25, seed=12, types=types)
    pairs = list(shape.stream(4000))
    produce(kafka_bootstrap, topic, pairs)
    group = group_factory("pair")
    await _project(pool, kafka_bootstrap, group, ProjectorTopics(topic, "", ""),
                   end_offsets(kafka_bootstrap, topic), batch_size=200, members=2,
                   prefix=sink)
    assert end_offsets(kafka_bootstrap, sink) == {0: 0}  # nothing was refused
    async with pool.acquire() as conn:
        assert differences(expected(e for _, e in pairs), await actual(conn)) == []
        assert await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM audit_log GROUP BY table_name, topic, "
            "kafka_partition, kafka_offset HAVING count(*) > 1) d") == 0


async def test_a_stale_claim_is_fenced(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        async with conn.transaction():
            await claim(conn, "g", [Claim("t", 0, None, 10)])
        async with conn.transaction():
            await claim(conn, "g", [Claim("t", 0, 10, 20)])
        # Another member already moved partition 0 from 10: this batch must not apply.
        with pytest.raises(Fenced):
            async with conn.transaction():
                await claim(conn, "g", [Claim("t", 0, 10, 15)])
        with pytest.raises(Fenced):
            async with conn.transaction():
                await claim(conn, "g", [Claim("t", 0, None, 5)])
        assert await conn.fetchval("SELECT next_offset FROM projection_offsets "
                                   "WHERE consumer_group = 'g'") == 20


async def test_dead_letters_are_projected_and_keep_their_status(
    pool: asyncpg.Pool, kafka_bootstrap: str, topic_factory: TopicFactory,
    group_factory: Callable[[str], str],
) -> None:
    from tds.retry import Origin, route_failure

    dlq = topic_factory("dlq", partitions=1)
    entity = topic_factory("synced", partitions=1)
    producer = Producer(producer_config(kafka_bootstrap))
    for n in range(3):
        routing = route_failure(RetryPolicy(()), None, Origin(
            "tds.entity.synced", 0, n, 1_700_000_000_000, "tds-projector", "projector"),
            ValueError(f"bad {n}"))
        producer.produce(dlq, key=entity_key(ORG, "item", str(n)), value=b"\x01raw",
                         headers=routing.headers)
    producer.flush(10)
    ends = end_offsets(kafka_bootstrap, dlq)
    topics = ProjectorTopics(entity, "", dlq)

    async def project(group: str) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run(
            pool=pool, bootstrap=kafka_bootstrap, group=group, topics=topics,
            policy=RetryPolicy((1.0,)), metrics=Metrics.create(), stop=stop))
        try:
            await wait_caught_up(pool, group, dlq, ends)
        finally:
            stop.set()
            await task

    await project(group_factory("dlq"))
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM dead_letters ORDER BY dlq_offset")
        assert [r["id"] for r in rows] == [f"{dlq}/0/{n}" for n in range(3)]
        assert {r["status"] for r in rows} == {"pending"}
        assert rows[1]["error_message"] == "bad 1" and rows[1]["entity_id"] == "1"
        assert rows[0]["message_value"] == b"\x01raw"
        await conn.execute("UPDATE dead_letters SET status = 'retried' WHERE id = $1",
                           rows[0]["id"])
    await project(group_factory("again"))  # projecting the topic again changes nothing
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM dead_letters") == 3
        assert await conn.fetchval("SELECT status FROM dead_letters WHERE dlq_offset = 0") \
            == "retried"
