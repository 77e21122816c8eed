"""Lag and members come from the broker: a group that read some messages shows the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

import pytest
from confluent_kafka import Consumer, Producer

from api.kafka_state import GroupState, KafkaInspector, KafkaStateError
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

    # Single flight: eight concurrent callers cost one inspection and get the same answer.
    calls = 0
    inspect = inspector.groups_sync

    def counted(subscriptions: Mapping[str, Sequence[str]]) -> list[GroupState]:
        nonlocal calls
        calls += 1
        return inspect(subscriptions)

    inspector.groups_sync = counted  # type: ignore[method-assign]
    answers = await asyncio.gather(*(inspector.groups({live_group: [topic]}) for _ in range(8)))
    assert calls == 1 and all(a == answers[0] for a in answers)
    await inspector.groups({live_group: [topic]})
    assert calls == 2  # finished inspections are not cached here (the API's cache does that)
    consumer.close()
    assert await inspector.reachable()

    # The broker is asked from a child process: one that died is replaced at the next call,
    # and one that dies during a call costs that call only.
    child = inspector._child._process
    assert child is not None
    child.kill()
    child.wait()
    assert [s.group for s in inspector.groups_sync({live_group: [topic]})] == [live_group]
    assert inspector._child._process is not None and inspector._child._process.pid != child.pid
    dying = inspector._child._process
    dying.kill()
    dying.wait()
    real_poll, polls = dying.poll, 0

    def alive_at_first_look() -> int | None:  # it dies after the call's liveness check
        nonlocal polls
        polls += 1
        return None if polls == 1 else real_poll()

    dying.poll = alive_at_first_look  # type: ignore[method-assign]
    with pytest.raises(KafkaStateError, match="exited with -9"):
        inspector.groups_sync({live_group: [topic]})
    assert await inspector.reachable()
    inspector.close()

    nowhere = KafkaInspector(bootstrap="127.0.0.1:1", timeout_s=1)
    assert not await nowhere.reachable()
    nowhere.close()
