"""Kill workers mid-stream: nothing is lost and state comes back from the changelog;
exactly_once wraps the outputs in transactions (TDS_TEST_GUARANTEE=exactly_once runs the
kill tests in that mode too)."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from schemas.cloudevents import ce_headers
from schemas.events import EntitySynced, RawEvent
from schemas.topics import entity_key
from tds.kafka import client_config, producer_config
from tests.integration.streams.support import (
    Reader,
    Topics,
    Worker,
    drop_retry_topics,
    make_topics,
    produce,
    running,
    synced,
)
from tests.unit.streams.builders import ORG, T0, item, raw

VERSIONS = 6
GUARANTEE = os.environ.get("TDS_TEST_GUARANTEE", "at_least_once")


def _guarantee(engine: str) -> str:
    """TDS_TEST_GUARANTEE where the engine offers it (exactly_once: batched only)."""
    return GUARANTEE if engine == "batched" else "at_least_once"


def _history(keys: int) -> list[RawEvent]:
    """Every key in VERSIONS versions, published in version order."""
    return [raw("item", item(f"k{k}", name=f"v{v}", modified=T0 + timedelta(seconds=v)),
                source="poll.full", kind="snapshot")
            for v in range(VERSIONS) for k in range(keys)]


def _latest(events: list[EntitySynced]) -> dict[str, str]:
    return {e.entity_id: e.record["name"] for e in events if e.record is not None}


def _all_final(reader: Reader, topic: str, keys: int) -> Callable[[list[Message]], bool]:
    def done(messages: list[Message]) -> bool:
        latest = _latest(synced(messages, topic))
        return len(latest) == keys and all(v == f"v{VERSIONS - 1}" for v in latest.values())
    return done


def _sentinel_per_partition(bootstrap: str, topic: str) -> set[str]:
    """Publish sentinels (keyed as usual) until each partition of `topic` holds one.

    One partition's sentinel says only that its own partition was read up to it: a check
    that waits for one and then judges every partition proves nothing about the others.
    """
    consumer = Consumer(client_config(bootstrap, **{"group.id": f"wm-{uuid.uuid4().hex}"}))
    partitions = set(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    consumer.close()
    covered: set[int] = set()
    producer = Producer(producer_config(bootstrap))
    landed: list[int] = []
    for n in range(1000):
        if covered == partitions:
            return {f"sentinel-{i}" for i in range(n)}  # each one waited for: simpler
        sentinel = raw("item", item(f"sentinel-{n}"), source="poll.full", kind="snapshot")
        producer.produce(topic, key=entity_key(ORG, "item", f"sentinel-{n}"),
                         value=sentinel.encode(),
                         headers=ce_headers("zoho.webhook.received", "/test",
                                            event_id=sentinel.event_id),
                         on_delivery=lambda err, msg: landed.append(msg.partition() or 0))
        assert producer.flush(30) == 0 and len(landed) == n + 1
        covered.add(landed[-1])
    raise AssertionError(f"no sentinel landed on some partition of {partitions}")


def _records_in(bootstrap: str, topic: str) -> int:
    """Offsets used in `topic` (data and transaction markers)."""
    consumer = Consumer(client_config(bootstrap, **{"group.id": f"wm-{uuid.uuid4().hex}"}))
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    total = 0
    for p in metadata.partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        total += high - low
    consumer.close()
    return total


def test_sigkill_mid_stream_loses_nothing_and_state_recovers(
        engine: str, kafka_bootstrap: str, stream_topics: Topics, tmp_path: Path) -> None:
    keys = 800
    produce(kafka_bootstrap, stream_topics.bulk, _history(keys))
    app_id = f"test-kill-{uuid.uuid4().hex[:8]}"
    worker = Worker(kafka_bootstrap, stream_topics, app_id, tmp_path,
                    guarantee=_guarantee(engine), engine=engine)
    reader = Reader(kafka_bootstrap, f"reader-{uuid.uuid4().hex[:8]}", [stream_topics.synced])
    with running(worker):
        reader.read(lambda ms: len(ms) >= 1000, 60)
        assert len(reader.messages) >= 1000, "the worker never got going"
        worker.kill()
        # A new process: its state comes from the changelog alone.
        worker.start()
        reader.read(_all_final(reader, stream_topics.synced, keys), 240)
        assert _all_final(reader, stream_topics.synced, keys)(reader.messages)
        # Stale versions of keys done before the kill must be skipped by the recovered table;
        # a sentinel behind them on every partition says when all of them were read.
        produce(kafka_bootstrap, stream_topics.bulk,
                [raw("item", item(f"k{k}", name="stale", modified=T0), source="poll.full",
                     kind="snapshot") for k in range(50)])
        sentinels = _sentinel_per_partition(kafka_bootstrap, stream_topics.bulk)
        reader.read(lambda ms: sentinels <= {e.entity_id for e in synced(ms[-500:],
                                                                         stream_topics.synced)},
                    60)
    reader.close()
    events = synced(reader.messages, stream_topics.synced)
    assert sentinels <= {e.entity_id for e in events}
    assert not [e for e in events if e.record is not None and e.record["name"] == "stale"]
    # At least once, versions published before the kill may be published again after it
    # (the table's changelog can lag the outputs); the last one per key is the latest.
    last = {e.entity_id: e for e in events if e.entity_id not in sentinels}
    assert {e.record["name"] for e in last.values() if e.record} == {f"v{VERSIONS - 1}"}


def test_exactly_once_is_refused_on_the_faust_engine(
        kafka_bootstrap: str, stream_topics: Topics, tmp_path: Path) -> None:
    """The faust engine does not offer exactly_once: the worker stops at once, saying
    what to use instead, rather than running with a weaker guarantee."""
    worker = Worker(kafka_bootstrap, stream_topics, f"test-eos-{uuid.uuid4().hex[:8]}",
                    tmp_path, guarantee="exactly_once", engine="faust").start()
    assert worker.process is not None
    assert worker.process.wait(60) == 1
    worker.stop()
    assert "--engine batched" in worker.logs()


def test_exactly_once_outputs_commit_with_the_offsets(
        kafka_bootstrap: str, stream_topics: Topics, tmp_path: Path) -> None:
    """Steady state: every output is inside a transaction and no version is published
    twice (crash safety under exactly_once: the kill tests with TDS_TEST_GUARANTEE)."""
    keys = 300
    produce(kafka_bootstrap, stream_topics.bulk, _history(keys))
    worker = Worker(kafka_bootstrap, stream_topics, f"test-eos-{uuid.uuid4().hex[:8]}",
                    tmp_path, guarantee="exactly_once", engine="batched")
    reader = Reader(kafka_bootstrap, f"reader-{uuid.uuid4().hex[:8]}", [stream_topics.synced])
    with running(worker):
        reader.read(_all_final(reader, stream_topics.synced, keys), 90)
    reader.close()
    events = synced(reader.messages, stream_topics.synced)
    assert _all_final(reader, stream_topics.synced, keys)(reader.messages)
    versions = Counter((e.entity_id, e.version_modified_at, e.version_offset) for e in events)
    assert max(versions.values()) == 1
    # The outputs went through transactions: their commit markers take offsets too.
    assert _records_in(kafka_bootstrap, stream_topics.synced) > len(events)


def test_three_workers_share_the_partitions_and_survive_one_killed(
        engine: str, kafka_bootstrap: str, topic_factory: Callable[..., str],
        tmp_path: Path) -> None:
    topics = make_topics(kafka_bootstrap, topic_factory, partitions=6)
    try:
        keys = 1200
        produce(kafka_bootstrap, topics.bulk, _history(keys))
        app_id = f"test-three-{uuid.uuid4().hex[:8]}"
        workers = [Worker(kafka_bootstrap, topics, app_id, tmp_path,
                          guarantee=_guarantee(engine), engine=engine) for _ in range(3)]
        reader = Reader(kafka_bootstrap, f"reader-{uuid.uuid4().hex[:8]}", [topics.synced])
        admin = AdminClient(client_config(kafka_bootstrap))
        with running(*workers):
            deadline = time.monotonic() + 60
            owned: list[int] = []
            while time.monotonic() < deadline:
                group: Any = admin.describe_consumer_groups([app_id])[app_id].result(timeout=10)
                owned = sorted(
                    len({tp.partition for tp in m.assignment.topic_partitions
                         if tp.topic == topics.bulk}) for m in group.members)
                if owned == [2, 2, 2]:
                    break
                time.sleep(0.5)
            assert owned == [2, 2, 2], f"bulk partitions per member: {owned}"
            reader.read(lambda ms: len(ms) >= 1500, 60)
            workers[1].kill()
            reader.read(_all_final(reader, topics.synced, keys), 120)
        reader.close()
        assert _all_final(reader, topics.synced, keys)(reader.messages)
    finally:
        drop_retry_topics(kafka_bootstrap, topics)


def test_switching_engines_keeps_the_state(
        kafka_bootstrap: str, stream_topics: Topics, tmp_path: Path) -> None:
    """Batched, then faust, then batched again on one app id: each engine restores the
    other's changelogs, so records that did not change are not emitted again."""
    keys = 200
    app_id = f"test-switch-{uuid.uuid4().hex[:8]}"
    reader = Reader(kafka_bootstrap, f"reader-{uuid.uuid4().hex[:8]}", [stream_topics.synced])
    emitted: list[set[str]] = []
    try:
        for round_, engine in enumerate(("batched", "faust", "batched")):
            # The same snapshots again each round (a later received time, same content).
            produce(kafka_bootstrap, stream_topics.bulk, [
                raw("item", item(f"k{k}", name="v1", modified=T0), source="poll.full",
                    kind="snapshot", received=T0 + timedelta(minutes=round_ + 1))
                for k in range(keys)])
            marker = f"marker-{round_}"
            produce(kafka_bootstrap, stream_topics.bulk, [raw(
                "item", item(marker, modified=T0), source="poll.full", kind="snapshot")])
            before = len(reader.messages)
            with running(Worker(kafka_bootstrap, stream_topics, app_id, tmp_path,
                                engine=engine)):
                # The marker is behind the snapshots only on its own partition: wait for
                # it, then until nothing more comes for 3 s.
                def marked(ms: list[Message], m: str = marker) -> bool:
                    return any(e.entity_id == m for e in synced(ms, stream_topics.synced))

                reader.read(marked, 60)
                count = -1
                while count != len(reader.messages):
                    count = len(reader.messages)
                    reader.read(lambda ms: len(ms) > count, 3)  # noqa: B023
            # Records, not messages: at least once, a version may be published twice.
            emitted.append({e.entity_id for e in
                            synced(reader.messages[before:], stream_topics.synced)})
    finally:
        reader.close()
    assert len(emitted[0]) == keys + 1, emitted
    assert emitted[1:] == [{"marker-1"}, {"marker-2"}], (
        f"records re-emitted after an engine switch: {emitted[1:]}")
