"""Realtime events on the faust engine, read by a consumer of their own.

faust hands out a worker's fetched records one at a time through one fetcher task, in
fetch order, before any agent sees them: a webhook fetched behind bulk records waited for
them, and for the agent's chunks in between (measured p99 0.7-3 s behind a backlog; the
wait was all before faust's `getmany` yielded the record). So, as in the batched engine,
the realtime partitions faust's group gives this worker are paused in faust's consumer
and read by a confluent-kafka consumer of their own (assigned, not a group member, from
the group's committed offsets). The engine takes what it holds between bulk chunks and
every few milliseconds; the offsets it processed are committed through faust's consumer,
the group member, by each checkpoint after the outputs and state (`streams.faust_app`).
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, TopicPartition

from streams.faust_tables import Deferred
from tds.kafka import MessageLike


class RealtimeReader:
    """The realtime partitions this worker owns, and the offsets processed since the last
    checkpoint."""

    def __init__(self, consumer: Consumer, topic: str) -> None:
        self.consumer = consumer
        self.topic = topic
        self.owned: frozenset[int] = frozenset()
        self._next: dict[int, int] = {}  # partition → next offset to commit

    def assign(self, partitions: Iterable[int]) -> None:
        """Read `partitions` from the group's committed offsets (the earliest without)."""
        self.owned = frozenset(partitions)
        self._next.clear()
        self.consumer.assign([TopicPartition(self.topic, p) for p in sorted(self.owned)])

    def revoke(self) -> None:
        """Stop reading; what was not committed is the next owner's to replay."""
        self.owned = frozenset()
        self._next.clear()
        self.consumer.unassign()

    def take(self, limit: int) -> list[MessageLike]:
        """The events at hand (never waits)."""
        if not self.owned:
            return []
        owned = self.owned
        return [m for m in self.consumer.consume(limit, 0)
                if m.error() is None and m.partition() in owned]

    def processed(self, messages: Iterable[MessageLike]) -> None:
        """Their outputs are queued and state written: commit past them at a checkpoint."""
        for message in messages:
            partition = message.partition()
            if partition in self.owned:
                self._next[partition] = (message.offset() or 0) + 1

    def take_offsets(self) -> dict[int, int]:
        """The offsets to commit, once (partition → next offset)."""
        offsets, self._next = self._next, {}
        return offsets

    def close(self) -> None:
        self.consumer.close()


class Origin:
    """What the versions overlay records a realtime write under: faust's tables place a
    write by its event's message's partition, and this one came from no faust event."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, partition: int) -> None:
        self.message = _Position(partition)


class _Position:
    __slots__ = ("partition",)

    def __init__(self, partition: int) -> None:
        self.partition = partition


class TrackedRealtime:
    """A realtime message that makes itself the versions overlay's current origin when the
    handler reads its partition (the first thing it reads of each message)."""

    __slots__ = ("_deferred", "_m")

    def __init__(self, deferred: Deferred, message: MessageLike) -> None:
        self._m = message
        self._deferred = deferred

    def topic(self) -> str | None:
        return self._m.topic()

    def partition(self) -> int | None:
        partition = self._m.partition() or 0
        self._deferred.current = Origin(partition)
        return partition

    def offset(self) -> int | None:
        return self._m.offset()

    def key(self) -> bytes | None:
        return self._m.key()

    def value(self) -> bytes | None:
        return self._m.value()

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._m.headers()

    def timestamp(self) -> tuple[int, int]:
        return self._m.timestamp()

    def error(self) -> KafkaError | None:
        return self._m.error()
