"""The faust engine's tables and messages: faust events seen as `tds.kafka.MessageLike`,
and the overlay (`Deferred`) through which the agents' table writes wait for the outputs
they follow (`streams.faust_app` says why and when they are applied)."""

from __future__ import annotations

import weakref
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from faust.streams import _current_event
from faust.types import EventT as _EventT

from streams.state import Produce

_MISSING = object()
EventT = _EventT[Any]


class _Placed(Protocol):
    @property
    def partition(self) -> int: ...


class Writer(Protocol):
    """What a table write is recorded under: a faust event, or the origin of a realtime
    message read outside faust (`streams.faust_realtime`); its message's partition says
    where the write goes."""

    @property
    def message(self) -> _Placed: ...


class FaustMessage:
    """`tds.kafka.MessageLike` over a faust event's message."""

    __slots__ = ("_m", "event")

    def __init__(self, event: EventT) -> None:
        self.event = event
        self._m = event.message

    def topic(self) -> str | None:
        return str(self._m.topic)

    def partition(self) -> int | None:
        return int(self._m.partition)

    def offset(self) -> int | None:
        return int(self._m.offset)

    def key(self) -> bytes | None:
        key: bytes | None = self._m.key
        return key

    def value(self) -> bytes | None:
        value: bytes | None = self._m.value
        return value

    def headers(self) -> list[tuple[str, bytes]] | None:
        headers = self._m.headers
        if not headers:
            return None
        if isinstance(headers, Mapping):
            return list(headers.items())
        return list(headers)

    def timestamp(self) -> tuple[int, int]:
        return 1, round(float(self._m.timestamp or 0.0) * 1000)

    def error(self) -> None:
        return None


def set_current_event(event: Writer) -> None:
    """Make `event` faust's current event: a table write goes to the changelog partition
    (and RocksDB partition) of the current event, and a batch holds many partitions."""
    _current_event.set(weakref.ref(event))  # type: ignore[arg-type]  # only .message read


class Deferred:
    """A faust Table seen through the writes not yet applied to it (see the module doc)."""

    def __init__(self, table: Any, partition_of: Callable[[bytes], int]) -> None:
        self.table = table
        self._partition_of = partition_of
        self.overlay: dict[bytes, bytes | None] = {}
        self.writes: list[tuple[Writer, bytes, bytes | None]] = []
        self.current: Writer | None = None  # the event being processed (set by the host)

    def get(self, key: bytes) -> bytes | None:
        value = self.overlay.get(key, _MISSING)
        if value is _MISSING:
            stored: bytes | None = self.table.get(key)
            return stored
        return value  # type: ignore[return-value]  # bytes or None, never _MISSING

    def __setitem__(self, key: bytes, value: bytes) -> None:
        assert self.current is not None, "a table write outside an event"
        self.overlay[key] = value
        self.writes.append((self.current, key, value))

    def delete(self, key: bytes) -> None:
        if self.get(key) is not None:
            assert self.current is not None, "a table delete outside an event"
            self.overlay[key] = None
            self.writes.append((self.current, key, None))

    def items(self) -> list[tuple[bytes, bytes]]:
        """Every key with its latest value (applied or not)."""
        merged: dict[bytes, bytes | None] = dict(self.table.items())
        merged.update(self.overlay)
        return [(k, v) for k, v in merged.items() if v is not None]

    def partition_items(self, partition: int) -> list[tuple[bytes, bytes]]:
        """The items whose key belongs to `partition`."""
        return [(k, v) for k, v in self.items() if self._partition_of(k) == partition]

    def take_writes(self) -> list[tuple[Writer, bytes, bytes | None]]:
        """The writes so far (their outputs are queued), to apply after the flush."""
        writes, self.writes = self.writes, []
        return writes

    def apply(self, writes: Sequence[tuple[Writer, bytes, bytes | None]],
              produce: Produce) -> int:
        """Write `writes` to the table's store in order and produce each key's last value
        to the changelog; the number of changelog records."""
        store, overlay = self.table.data, self.overlay
        last: dict[tuple[int, bytes], bytes | None] = {}
        for event, key, value in writes:
            set_current_event(event)
            if value is None:
                if key in store:
                    del store[key]
            else:
                store[key] = value
            last[event.message.partition, key] = value
            if overlay.get(key, _MISSING) is value:
                del overlay[key]
        topic = self.table.changelog_topic.get_topic_name()
        for (partition, key), value in last.items():
            produce(topic, key=key, value=value, partition=partition)
        return len(last)

    def forget(self, partitions: set[int]) -> None:
        """Drop pending writes of partitions this worker lost (their owner replays)."""
        # The overlay holds exactly the values of the writes not applied yet.
        self.writes = [w for w in self.writes if w[0].message.partition not in partitions]
        self.overlay = {key: value for _, key, value in self.writes}


class RunsView:
    """The ledger's partitioned-state interface (`streams.ledger.RunsState`) over the
    `runs` table: partition p is what the ledger partition p this worker owns holds."""

    def __init__(self, deferred: Deferred, owned: Callable[[], set[int]]) -> None:
        self._deferred = deferred
        self._owned = owned

    def __contains__(self, partition: object) -> bool:
        return partition in self._owned()

    def __getitem__(self, partition: int) -> Deferred:
        return self._deferred

    def items(self) -> Iterator[tuple[int, _PartitionItems]]:
        for partition in sorted(self._owned()):
            yield partition, _PartitionItems(self._deferred, partition)


@dataclass(frozen=True, slots=True)
class _PartitionItems:
    """One ledger partition's runs, for the idle-run check."""

    deferred: Deferred
    partition: int

    def items(self) -> list[tuple[bytes, bytes]]:
        return self.deferred.partition_items(self.partition)


def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition librdkafka's default partitioner (consistent_random: CRC-32 of the
    key) picks: where the outbox's keyed messages without a partition go."""
    return zlib.crc32(key) % partitions


class Tracked(FaustMessage):
    """A message that makes its event the one the versions overlay records writes for
    when the handler reads its partition (the first thing it reads of each message)."""

    __slots__ = ("_deferred",)

    def __init__(self, deferred: Deferred, event: EventT) -> None:
        super().__init__(event)
        self._deferred = deferred

    def partition(self) -> int | None:
        self._deferred.current = self.event
        return int(self._m.partition)
