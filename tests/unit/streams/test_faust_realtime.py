"""The faust engine's realtime reader: it hands out only its own partitions' events, and
commits past an event only once it was processed and only while it owns the partition;
a realtime write lands on its message's partition."""

from __future__ import annotations

from typing import Any

from confluent_kafka import TopicPartition

from streams.faust_realtime import RealtimeReader, TrackedRealtime
from streams.faust_tables import Deferred
from tests.unit.streams.test_faust_state import FakeTable


class _Message:
    def __init__(self, partition: int, offset: int, error: Any = None) -> None:
        self._partition, self._offset, self._error = partition, offset, error

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def error(self) -> Any:
        return self._error


class _Consumer:
    def __init__(self) -> None:
        self.assigned: list[TopicPartition] = []
        self.queued: list[_Message] = []

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions

    def unassign(self) -> None:
        self.assigned = []

    def consume(self, limit: int, timeout: float) -> list[_Message]:
        taken, self.queued = self.queued[:limit], self.queued[limit:]
        return taken


def _reader() -> tuple[RealtimeReader, _Consumer]:
    consumer = _Consumer()
    reader = RealtimeReader(consumer, "rt")  # type: ignore[arg-type]  # a stand-in
    return reader, consumer


def test_only_processed_events_of_owned_partitions_are_committed() -> None:
    reader, consumer = _reader()
    reader.assign([2, 0])
    # From the group's committed offsets: no offset given.
    assert [(tp.topic, tp.partition, tp.offset) for tp in consumer.assigned] == [
        ("rt", 0, TopicPartition("rt", 0).offset), ("rt", 2, TopicPartition("rt", 2).offset)]
    consumer.queued = [_Message(0, 5), _Message(1, 9), _Message(2, 3, error="eof"),
                       _Message(2, 4)]
    taken = reader.take(10)
    assert [(m.partition(), m.offset()) for m in taken] == [(0, 5), (2, 4)]
    assert reader.take_offsets() == {}  # taken is not processed
    reader.processed(taken)
    assert reader.take_offsets() == {0: 6, 2: 5}
    assert reader.take_offsets() == {}  # once


def test_a_revoked_partition_commits_nothing_more() -> None:
    reader, consumer = _reader()
    reader.assign([0])
    consumer.queued = [_Message(0, 7)]
    taken = reader.take(10)
    reader.processed([_Message(0, 6)])  # type: ignore[list-item]  # a stand-in
    reader.revoke()
    assert consumer.assigned == [] and reader.take_offsets() == {}
    reader.processed(taken)  # a batch that finished after the revocation
    assert reader.take_offsets() == {}
    consumer.queued = [_Message(0, 8)]
    assert reader.take(10) == []


def test_a_realtime_write_lands_on_its_messages_partition() -> None:
    table = FakeTable()
    deferred = Deferred(table, lambda k: 0)
    message = TrackedRealtime(deferred, _Message(4, 1))  # type: ignore[arg-type]
    assert message.partition() == 4
    deferred[b"k"] = b"v"
    produced: list[int] = []
    deferred.apply(deferred.take_writes(),
                   lambda topic, *, key, value, partition: produced.append(partition))
    assert table.data == {b"k": b"v"} and produced == [4]
