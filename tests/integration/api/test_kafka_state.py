"""Lag and members come from the broker: a group that read some messages shows the rest."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Consumer, Producer

from api.kafka_state import KafkaInspector
from tds.kafka import consumer_config, producer_config


async def test_lag_and_members(
    kafka_bootstrap: str, topic_factory: Callable[..., str], group_factory: Callable[[str], str]
) -> None:
    topic, other = topic_factory("lag", partitions=2), topic_factory("other", partitions=1)
    producer = Producer(producer_config(kafka_bootstrap))
    for i in range(20):
        producer.produce(topic, key=str(i).encode(), value=b"v")
    producer.produce(other, value=b"x")
    assert producer.flush(30) == 0

    group = group_factory("lag")
    consumer = Consumer(consumer_config(kafka_bootstrap, group))
    consumer.subscribe([topic])
    read = 0
    for _ in range(200):  # bounded: at most 200 polls
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            read += 1
            if read == 8:
                consumer.commit(message=message, asynchronous=False)
                break
    assert read == 8

    inspector = KafkaInspector(bootstrap=kafka_bootstrap)
    live_group, idle_group = group, group_factory("never")
    states = {s.group: s for s in await inspector.groups(
        {live_group: [topic], idle_group: [topic, other]})}
    live = states[live_group]
    assert live.members == 1 and live.state == "stable"
    assert {p.topic for p in live.partitions} == {topic}
    committed_total = sum(p.committed or 0 for p in live.partitions if (p.committed or 0) > 0)
    assert live.lag == 20 - committed_total
    assert 0 < live.lag < 20
    idle = states[idle_group]
    assert idle.members == 0 and idle.lag == 21
    consumer.close()
    assert await inspector.reachable()
    assert not await KafkaInspector(bootstrap="127.0.0.1:1", timeout_s=1).reachable()
