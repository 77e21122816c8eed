"""The downstream gate against the real broker: it reads another group's lag through a
consumer handle (not the admin client's OffsetFetch) without blocking, and closes only
while that group has live members."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Consumer, Producer, TopicPartition

from streams.backpressure import DownstreamGate
from tds.kafka import consumer_config, producer_config
from tests.support.waits import wait_until


def _lag_known(gate: DownstreamGate, timeout_s: float = 15.0) -> None:
    wait_until(lambda: gate.update() is not None and gate.lag is not None, timeout_s,
               what="the gate read the group's lag")


def test_gate_reads_the_groups_lag_and_ignores_a_group_without_members(
        kafka_bootstrap: str, topic_factory: Callable[..., str],
        group_factory: Callable[[str], str]) -> None:
    topic, group = topic_factory("gate", partitions=2), group_factory("gate")
    producer = Producer(producer_config(kafka_bootstrap))
    for i in range(10):
        producer.produce(topic, b"x", partition=i % 2)
    assert producer.flush(10) == 0
    committer = Consumer(consumer_config(kafka_bootstrap, group))
    committer.commit(offsets=[TopicPartition(topic, 0, 2), TopicPartition(topic, 1, 1)],
                     asynchronous=False)
    committer.close()

    gate = DownstreamGate.create(kafka_bootstrap, group=group, topic=topic, partitions=2,
                                 max_lag=1, check_s=0.05)
    # Asks and returns; the answer is read by a later call. (That it never blocks, even on
    # requests that are never answered, is test_backpressure's, with futures it controls.)
    assert gate.update() is False and gate.lag is None
    _lag_known(gate)
    assert gate.lag == 7
    assert gate.closed is False  # nobody reads the topic: holding bulk back helps no one

    member = Consumer(consumer_config(kafka_bootstrap, group))
    member.subscribe([topic])

    def polled(then: Callable[[], object]) -> Callable[[], object]:
        return lambda: (member.poll(0.05), then())[1]  # the member stays alive meanwhile

    wait_until(polled(member.assignment), 30, what="the member got its partitions")
    try:
        wait_until(polled(gate.update), 15, what="the gate closed")
        assert gate.closed is True and gate.lag == 7  # a live member behind: bulk waits
    finally:
        member.close()
