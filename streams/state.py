"""Partitioned key → bytes state in memory, made durable by a compacted changelog topic.

Each partition of the state belongs to the input partition of the same number, so the
worker that owns input partition p owns state partition p. Writes only mark keys dirty;
`flush_to` produces the dirty keys' latest values once per checkpoint (many writes of
one key in a checkpoint become one record). `restore` rebuilds a partition by reading its
changelog partition from the beginning to the end, so a new process (or a new owner
after a rebalance) starts from the state of the last checkpoint.

The changelog's records are the raw key and value bytes (a `None` value deletes), the
layout faust's tables used, so a deployment moving off faust keeps its state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from streams.errors import StateError
from tds.kafka import read_to_end

logger = logging.getLogger(__name__)


class Produce(Protocol):
    """What the state needs of a producer."""

    def __call__(self, topic: str, *, key: bytes, value: bytes | None,
                 partition: int) -> None: ...


class Partition(dict[bytes, bytes]):
    """One partition's values; `__setitem__` and `delete` remember the key for the next
    flush (a dict subclass, so the pipeline's `get` stays the C lookup)."""

    __slots__ = ("dirty",)

    def __init__(self) -> None:
        super().__init__()
        self.dirty: set[bytes] = set()

    def __setitem__(self, key: bytes, value: bytes) -> None:
        dict.__setitem__(self, key, value)
        self.dirty.add(key)

    def delete(self, key: bytes) -> None:
        """Remove `key` (a tombstone at the next flush)."""
        if dict.pop(self, key, None) is not None:
            self.dirty.add(key)


class ChangelogState:
    """The state of one table for the partitions this worker owns."""

    def __init__(self, topic: str, *, restore_consumer: Callable[[], Consumer]) -> None:
        self.topic = topic
        self._restore_consumer = restore_consumer
        self._partitions: dict[int, Partition] = {}

    def __getitem__(self, partition: int) -> Partition:
        return self._partitions[partition]

    def __contains__(self, partition: object) -> bool:
        return partition in self._partitions

    def owned(self) -> list[int]:
        """The partitions held in memory."""
        return sorted(self._partitions)

    def items(self) -> Iterator[tuple[int, Partition]]:
        """(partition, values) of every partition held."""
        return iter(list(self._partitions.items()))

    def flush_to(self, produce: Produce) -> int:
        """Produce every dirty key's value (None: deleted); the number produced."""
        count = 0
        for number, values in self._partitions.items():
            if not values.dirty:
                continue
            for key in values.dirty:
                produce(self.topic, key=key, value=values.get(key), partition=number)
            count += len(values.dirty)
            values.dirty.clear()
        return count

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget partitions this worker no longer owns (their changelog has them)."""
        for number in partitions:
            self._partitions.pop(number, None)

    def keep_only(self, partitions: Iterable[int]) -> list[int]:
        """Forget every partition not in `partitions`; return those still to restore."""
        wanted = set(partitions)
        self.drop([p for p in self._partitions if p not in wanted])
        return sorted(wanted - self._partitions.keys())

    def restore(self, partitions: Iterable[int], timeout_s: float = 120.0) -> None:
        """Rebuild `partitions` from the changelog (beginning to the current end)."""
        wanted = sorted(set(partitions))
        if not wanted:
            return
        started = time.monotonic()
        consumer = self._restore_consumer()
        try:
            fresh = {p: Partition() for p in wanted}
            ends: dict[int, int] = {}
            for p in wanted:
                low, high = _watermarks(consumer, TopicPartition(self.topic, p),
                                        started + timeout_s)
                if high > low:
                    ends[p] = high
            records = _apply(consumer, self.topic, ends, fresh, started + timeout_s)
        except KafkaException as exc:
            raise StateError(f"restoring {self.topic} {wanted} failed: {exc}") from exc
        finally:
            consumer.close()
        for values in fresh.values():
            values.dirty.clear()
        self._partitions.update(fresh)
        logger.info("restored %s partitions %s: %d records, %d keys in %.2fs", self.topic,
                    wanted, records, sum(len(v) for v in fresh.values()),
                    time.monotonic() - started)


def _watermarks(consumer: Consumer, tp: TopicPartition, deadline: float) -> tuple[int, int]:
    """The partition's offsets, waiting out a new topic's leader election."""
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            return int(low), int(high)
        except KafkaException as exc:
            # A topic created a moment ago answers "not leader" until its leader is elected.
            if time.monotonic() > deadline:
                raise
            logger.info("waiting for %s[%d]: %s", tp.topic, tp.partition, exc)
            time.sleep(0.2)


def _apply(consumer: Consumer, topic: str, ends: dict[int, int], into: dict[int, Partition],
           deadline: float) -> int:
    """Apply the changelog's records, beginning to `ends`, to the fresh partitions."""
    records = 0
    ranges = {p: (OFFSET_BEGINNING, end) for p, end in ends.items()}
    try:
        for batch in read_to_end(consumer, topic, ranges, deadline=deadline):
            for message in batch:
                key, value = message.key(), message.value()
                values = into[message.partition() or 0]
                if key is not None:
                    if value is None:
                        dict.pop(values, key, None)
                    else:
                        dict.__setitem__(values, key, value)
            records += len(batch)
    except TimeoutError as exc:
        raise StateError(f"restoring {exc}") from exc
    return records
