"""The one read-to-end loop: ranges, end-of-partition, transaction markers, deadline."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from tds.kafka import read_to_end


class Record:
    """A consumed message, or an error event of a partition."""

    def __init__(self, partition: int, offset: int, error: KafkaError | None = None) -> None:
        self._partition, self._offset, self._error = partition, offset, error

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def error(self) -> KafkaError | None:
        return self._error


class Log:
    """A consumer over fixed fetches; `position` is where each partition's reads ended."""

    def __init__(self, fetches: list[list[Record]], positions: dict[int, int] | None = None
                 ) -> None:
        self.fetches, self.positions = fetches, positions or {}
        self.assigned: list[tuple[int, int]] = []
        self.unassigned = False

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = [(tp.partition, tp.offset) for tp in partitions]

    def consume(self, _n: int, _wait_s: float) -> list[Record]:
        return self.fetches.pop(0) if self.fetches else []

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.positions.get(tp.partition, -1001))
                for tp in partitions]

    def unassign(self) -> None:
        self.unassigned = True


def read(log: Log, ranges: dict[int, tuple[int, int]], **kw: Any
         ) -> list[list[tuple[int | None, int | None]]]:
    return [[(m.partition(), m.offset()) for m in batch]
            for batch in read_to_end(log, "t", ranges, **kw)]  # type: ignore[arg-type]


def test_reads_each_range_and_stops_at_its_end() -> None:
    eof = KafkaError(KafkaError._PARTITION_EOF)
    log = Log([[Record(0, 3), Record(1, 0), Record(0, 4)], [],
               [Record(1, 1), Record(1, 2, eof), Record(0, 5), Record(2, 9)]])
    batches = read(log, {0: (3, 5), 1: (0, 2), 2: (0, 0)})
    assert log.assigned == [(0, 3), (1, 0)]  # an empty range is not read
    assert batches == [[(0, 3), (1, 0), (0, 4)], [], [(1, 1)]]
    assert log.unassigned


def test_an_offset_past_the_end_ends_the_range_unread() -> None:
    log = Log([[Record(0, 0), Record(0, 5)]])  # offsets 1-4 compacted away
    assert read(log, {0: (0, 3)}) == [[(0, 0)]]


def test_a_transaction_marker_at_the_end_is_passed_by_position() -> None:
    log = Log([[Record(0, 0)]], positions={0: 2})  # offset 1 is a commit marker
    assert read(log, {0: (-2, 2)}) == [[(0, 0)]]


def test_unread_partitions_at_the_deadline_and_broken_fetches_raise() -> None:
    with pytest.raises(TimeoutError, match="still"):
        read(Log([]), {0: (0, 1)}, deadline=0.0)
    broken = Log([[Record(0, 0, KafkaError(KafkaError._TRANSPORT))]])
    with pytest.raises(KafkaException):
        read(broken, {0: (0, 1)})
    assert broken.unassigned
