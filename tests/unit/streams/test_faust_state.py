"""The faust engine's deferred table writes: reads see them at once, the table and its
changelog only after the checkpoint applies them, and a lost partition's are dropped."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from streams.faust_tables import Deferred


class FakeTable:
    """The part of a faust Table the overlay uses: its store and its changelog name."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: "app-versions-changelog")

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def items(self) -> list[tuple[bytes, bytes]]:
        return list(self.data.items())


class _Event:
    """A faust event's part the overlay reads (weakly referenced, as faust does)."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)


def _event(partition: int) -> Any:
    return _Event(partition)


def test_writes_are_read_at_once_and_reach_the_table_only_when_applied() -> None:
    table = FakeTable()
    deferred = Deferred(table, lambda k: 0)
    deferred.current = _event(1)
    deferred[b"a"] = b"v1"
    deferred[b"a"] = b"v2"
    deferred.current = _event(2)
    deferred[b"b"] = b"w1"
    assert deferred.get(b"a") == b"v2" and table.data == {}
    produced: list[tuple[str, bytes, bytes | None, int]] = []
    writes = deferred.take_writes()
    deferred.current = _event(1)
    deferred[b"a"] = b"v3"  # after the snapshot: stays pending
    count = deferred.apply(writes, lambda topic, *, key, value, partition: produced.append(
        (topic, key, value, partition)))
    assert table.data == {b"a": b"v2", b"b": b"w1"}
    # One changelog record per key, its last value, on the partition of its event.
    assert count == 2 and sorted(produced) == [
        ("app-versions-changelog", b"a", b"v2", 1), ("app-versions-changelog", b"b", b"w1", 2)]
    assert deferred.get(b"a") == b"v3"  # the newer pending write still wins


def test_deletes_and_lost_partitions() -> None:
    table = FakeTable()
    table.data[b"a"] = b"old"
    deferred = Deferred(table, lambda k: 0)
    deferred.current = _event(0)
    deferred.delete(b"a")
    assert deferred.get(b"a") is None
    deferred.current = _event(3)
    deferred[b"c"] = b"x"
    deferred.forget({3})  # partition 3 moved to another worker: its writes are its
    assert deferred.get(b"c") is None and [k for _, k, _ in deferred.writes] == [b"a"]
    deferred.apply(deferred.take_writes(), lambda topic, *, key, value, partition: None)
    assert table.data == {}

