"""The real broker: catalogue topics get their configs, drift is reported, and a keyed
Avro message with CloudEvents headers survives a produce/consume round trip."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.admin import AdminClient

from schemas.cloudevents import ce_headers, parse_ce
from schemas.events import RawEvent, decode_event
from schemas.topics import TopicSpec, entity_key
from tds.kafka import client_config, consumer_config, producer_config
from tds.topics import check, create_missing


def _specs(prefix: str) -> list[TopicSpec]:
    return [
        TopicSpec(f"{prefix}.raw", 3, "delete", -1, ("x",), "raw"),
        TopicSpec(f"{prefix}.synced", 2, "compact", -1, ("y",), "synced",
                  {"min.compaction.lag.ms": "1000"}),
    ]


def test_create_is_idempotent_and_configs_match(kafka_bootstrap: str) -> None:
    prefix = f"test.cat-{uuid.uuid4().hex[:8]}"
    specs = _specs(prefix)
    try:
        assert create_missing(kafka_bootstrap, specs) == sorted(s.name for s in specs)
        assert create_missing(kafka_bootstrap, specs) == []
        assert check(kafka_bootstrap, specs) == []
    finally:
        admin = AdminClient(client_config(kafka_bootstrap))
        for future in admin.delete_topics([s.name for s in specs]).values():
            future.result(timeout=30)


def test_drift_is_reported(kafka_bootstrap: str, topic_factory: Callable[..., str]) -> None:
    name = topic_factory("drift", partitions=1, config={"cleanup.policy": "compact"})
    spec = TopicSpec(name, 4, "delete", 1000, ("x",), "drifted")
    drift = {(d.what, d.expected, d.actual) for d in check(kafka_bootstrap, [spec])}
    assert ("partitions", "4", "1") in drift
    assert ("cleanup.policy", "delete", "compact") in drift
    assert ("retention.ms", "1000", "604800000") in drift
    missing = TopicSpec(f"{name}-nope", 1, "delete", -1, ("x",), "missing")
    assert [d.what for d in check(kafka_bootstrap, [missing])] == ["existence"]


def test_round_trip_with_key_and_headers(
    kafka_bootstrap: str, topic_factory: Callable[..., str], group_factory: Callable[[str], str]
) -> None:
    topic = topic_factory("rt", partitions=3)
    producer = Producer(producer_config(kafka_bootstrap))
    sent = []
    for i in range(30):
        event = RawEvent(event_id=str(uuid.uuid4()), source="webhook", org_id="42",
                         entity_type="item", entity_id=str(i % 5), event_kind="edited",
                         received_at=datetime.now(UTC), body=f'{{"n":{i}}}'.encode(),
                         content_type="application/json", signature_verified=True)
        key = entity_key("42", "item", str(i % 5))
        producer.produce(topic, key=key, value=event.encode(),
                         headers=ce_headers("zoho.webhook.received", "/tds/web",
                                            event_id=event.event_id))
        sent.append((key, event))
    assert producer.flush(30) == 0

    consumer = Consumer(consumer_config(kafka_bootstrap, group_factory("rt")))
    consumer.subscribe([topic])
    got: list[Message] = []
    try:
        while len(got) < len(sent):
            message = consumer.poll(10)
            assert message is not None, f"only {len(got)} of {len(sent)} arrived"
            assert message.error() is None
            got.append(message)
    finally:
        consumer.close()

    by_key: dict[bytes, list[int]] = {}
    partitions: dict[bytes, set[int]] = {}
    for message in got:
        value, msg_key, partition = message.value(), message.key(), message.partition()
        assert value is not None and msg_key is not None and partition is not None
        decoded = decode_event(value, topic=topic, partition=partition, offset=message.offset())
        assert isinstance(decoded, RawEvent)
        assert parse_ce(message.headers()).id == decoded.event_id
        by_key.setdefault(msg_key, []).append(int(decoded.body[5:-1]))
        partitions.setdefault(msg_key, set()).add(partition)
    # One key, one partition, in order.
    assert all(len(p) == 1 for p in partitions.values())
    for key, numbers in by_key.items():
        assert numbers == sorted(numbers), key
    assert sorted(n for ns in by_key.values() for n in ns) == list(range(30))
