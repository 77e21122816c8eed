"""The engine's batches, checkpoints, rebalances and sync-run ledger with stub Kafka clients."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from confluent_kafka import TopicPartition

from schemas.cloudevents import Headers
from schemas.events import EntitySynced, SyncRunEvent, decode_event
from streams.config import StreamsConfig
from streams.engine import Engine
from streams.runs import count_message, poller_message
from streams.state import ChangelogState
from tds.metrics import Metrics
from tests.unit.streams.builders import T0, item, raw
from tests.unit.streams.test_pipeline import Fetcher

NOW = datetime(2025, 11, 14, tzinfo=UTC)
CONFIG = StreamsConfig(bootstrap="127.0.0.1:1", app_id="unit", partitions=2)


class Message:
    """A consumed record (the `KafkaMessage` protocol)."""

    def __init__(self, topic: str, partition: int, offset: int, value: bytes | None,
                 key: bytes | None = b"k", headers: list[tuple[str, bytes]] | None = None
                 ) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._value, self._key, self._headers = value, key, headers

    def error(self) -> Any:
        return None

    def topic(self) -> str | None:
        return self._topic

    def partition(self) -> int | None:
        return self._partition

    def offset(self) -> int | None:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)


class Consumer:
    """Hands out queued messages; records commits, pauses and assignments."""

    def __init__(self, journal: list[str], changelog: Iterable[Message] = ()) -> None:
        self.queue: list[Message] = []
        self.journal = journal
        self.changelog = list(changelog)
        self.commits: list[list[TopicPartition]] = []
        self.paused: list[TopicPartition] = []
        self.assigned: list[TopicPartition] = []

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.journal.append("subscribe")

    def poll(self, timeout: float) -> Message | None:
        return self.queue.pop(0) if self.queue else None

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        taken, self.queue = self.queue[:num_messages], self.queue[num_messages:]
        return taken

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.journal.append("commit")
        self.commits.append(offsets)

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = list(partitions)
        self.queue = [m for m in self.changelog
                      if any(tp.partition == m.partition() for tp in partitions)]

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused += partitions

    def resume(self, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self.paused = [tp for tp in self.paused if (tp.topic, tp.partition) not in gone]

    def assignment(self) -> list[TopicPartition]:
        return list(self.assigned)

    def unassign(self) -> None:
        self.assigned = []

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        offsets = [m.offset() or 0 for m in self.changelog if m.partition() == tp.partition]
        return (0, max(offsets) + 1) if offsets else (0, 0)

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, 1 << 40) for tp in partitions]

    def close(self) -> None:
        self.journal.append("close")


class Recorder:
    """Stands in for the Outbox: keeps what is sent and when flushes happen."""

    transactional = False
    pending = 0

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.sent: list[tuple[str, bytes | None, bytes | None, Headers | None, int]] = []

    def begin(self) -> None: ...

    def poll(self) -> None: ...

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             headers: Headers | None = None, partition: int = -1) -> None:
        self.sent.append((topic, key, value, headers, partition))
        self.journal.append(f"send {topic}")

    def changelog(self, topic: str, *, key: bytes, value: bytes | None, partition: int) -> None:
        self.send(topic, key, value, None, partition)

    def flush(self, timeout_s: float = 60.0) -> None:
        self.journal.append("flush")

    def settle(self, timeout_s: float) -> int:
        return 0

    def abort(self) -> None:
        self.journal.append("abort")

    def close(self) -> None:
        self.journal.append("close outbox")

    def to(self, topic: str) -> list[tuple[bytes | None, bytes | None]]:
        return [(k, v) for t, k, v, _, _ in self.sent if t == topic]


class Rig:
    """An engine on stub clients, owning partitions 0 and 1 of every topic."""

    def __init__(self, changelog: Iterable[Message] = (), gate: Any = None) -> None:
        self.journal: list[str] = []
        self.consumer = Consumer(self.journal)
        self.realtime = Consumer(self.journal)
        self.outbox = Recorder(self.journal)
        self.restore = Consumer([], changelog)
        self.engine = Engine(
            CONFIG, fetcher=Fetcher(), metrics=Metrics.create(), clock=lambda: NOW,
            consumer=self.consumer,  # type: ignore[arg-type]  # a stub of the same methods
            realtime_consumer=self.realtime,  # type: ignore[arg-type]  # a stub
            outbox=self.outbox,  # type: ignore[arg-type]  # a recording stub
            restore_consumer=lambda: self.restore,  # type: ignore[arg-type,return-value]
            gate=gate)
        self.engine.subscribe()

    def assign(self, *partitions: int) -> None:
        topics = (CONFIG.realtime_topic, CONFIG.bulk_topic, CONFIG.ledger_topic)
        self.engine._on_assign(self.consumer,  # type: ignore[arg-type]  # a stub
                               [TopicPartition(t, p) for t in topics for p in partitions])


def _synced(recorder: Recorder) -> list[EntitySynced]:
    events = [decode_event(v or b"") for _, v in recorder.to(CONFIG.synced_topic)]
    assert all(isinstance(e, EntitySynced) for e in events)
    return events  # type: ignore[return-value]  # checked just above


async def test_a_batch_emits_skips_dead_letters_and_counts_per_run() -> None:
    rig = Rig()
    rig.assign(0, 1)
    first = raw("item", item("1"), source="poll.full", kind="snapshot", run="r1")
    rig.consumer.queue = [
        Message(CONFIG.bulk_topic, 0, 10, first.encode()),
        Message(CONFIG.bulk_topic, 0, 11, first.encode()),  # the same body: a duplicate
        Message(CONFIG.bulk_topic, 1, 5, b"not avro"),  # poison: straight to dead letters
        Message(CONFIG.bulk_topic, 1, 6,
                raw("item", item("2"), source="poll.full", kind="snapshot", run="r1").encode()),
    ]
    assert await rig.engine.step() == 4
    assert [e.entity_id for e in _synced(rig.outbox)] == ["1", "2"]
    assert [p for t, *_, p in rig.outbox.sent if t == CONFIG.synced_topic] == [0, 1]
    assert len(rig.outbox.to(CONFIG.deadletter_topic)) == 1
    counts = sorted((m["o"], m["n"]) for m in
                    (orjson.loads(v or b"") for _, v in rig.outbox.to(CONFIG.ledger_topic)))
    assert counts == [("changed", 2), ("unchanged", 1)]  # one message per outcome
    metrics = rig.engine.metrics.registry
    assert metrics.get_sample_value("tds_events_skipped_total",
                                    {"entity_type": "item", "reason": "duplicate"}) == 1
    assert metrics.get_sample_value("tds_dead_letters_total",
                                    {"stage": "streams", "reason": "invalid"}) == 1
    assert metrics.get_sample_value("tds_events_consumed_total",
                                    {"topic": CONFIG.bulk_topic, "stage": "streams"}) == 4


async def test_realtime_events_go_before_the_bulk_batch() -> None:
    rig = Rig()
    rig.assign(0)
    rig.consumer.queue = [Message(CONFIG.bulk_topic, 0, n, raw(
        "item", item(f"b{n}"), source="poll.full", kind="snapshot").encode())
        for n in range(3)]
    rig.realtime.queue = [Message(CONFIG.realtime_topic, 0, 0, raw("item", item("rt")).encode())]
    await rig.engine.step()
    assert [e.entity_id for e in _synced(rig.outbox)] == ["rt", "b0", "b1", "b2"]
    assert rig.engine.versions.owned() == [0]


async def test_assignment_pauses_realtime_on_the_group_consumer() -> None:
    rig = Rig()
    rig.assign(0, 1)
    assert {tp.topic for tp in rig.consumer.paused} == {CONFIG.realtime_topic}
    assert [(tp.topic, tp.partition) for tp in rig.realtime.assigned] == [
        (CONFIG.realtime_topic, 0), (CONFIG.realtime_topic, 1)]


async def _step_snapshot(rig: Rig, offset: int, item_id: str) -> None:
    """One polled item snapshot at `offset` of bulk partition 0, through one step."""
    rig.consumer.queue = [Message(CONFIG.bulk_topic, 0, offset, raw(
        "item", item(item_id), source="poll.full", kind="snapshot").encode())]
    await rig.engine.step()


async def test_checkpoint_flushes_outputs_then_state_then_commits() -> None:
    rig = Rig()
    rig.assign(0)
    await _step_snapshot(rig, 41, "1")
    rig.journal.clear()
    rig.engine.checkpoint()
    assert rig.journal == ["flush", f"send {CONFIG.versions_changelog}", "flush", "commit"]
    assert [(tp.topic, tp.partition, tp.offset) for tp in rig.consumer.commits[-1]] == [
        (CONFIG.bulk_topic, 0, 42)]
    rig.journal.clear()
    rig.engine.checkpoint()  # nothing new: no changelog record, no commit
    assert rig.journal == ["flush"]


async def test_a_periodic_checkpoint_commits_its_offsets_after_the_next_flush() -> None:
    rig = Rig()
    rig.assign(0)
    await _step_snapshot(rig, 41, "1")
    rig.journal.clear()
    rig.engine.checkpoint(final=False)  # the changelog record is not acknowledged yet
    assert rig.journal == ["flush", f"send {CONFIG.versions_changelog}"]
    await _step_snapshot(rig, 42, "2")
    rig.journal.clear()
    rig.engine.checkpoint(final=False)  # the flush acknowledges it: 42 is committed
    assert rig.journal == ["flush", f"send {CONFIG.versions_changelog}", "commit"]
    assert [tp.offset for tp in rig.consumer.commits[-1]] == [42]
    rig.journal.clear()
    rig.engine.checkpoint(final=False)  # nothing new: the held 43 goes after the flush
    assert rig.journal == ["flush", "commit"]
    assert [tp.offset for tp in rig.consumer.commits[-1]] == [43]


async def test_lost_partitions_forget_the_held_offsets() -> None:
    rig = Rig()
    rig.assign(0)
    await _step_snapshot(rig, 7, "1")
    rig.engine.checkpoint(final=False)
    rig.engine._on_lost(rig.consumer,  # type: ignore[arg-type]  # a stub consumer
                        [TopicPartition(CONFIG.bulk_topic, 0)])
    rig.engine.checkpoint(final=True)
    assert rig.consumer.commits == []  # the next owner replays from the last commit


async def test_state_comes_back_from_the_changelog_and_skips_stale_events() -> None:
    first = Rig()
    first.assign(0)
    event = raw("item", item("1"), source="poll.full", kind="snapshot")
    first.consumer.queue = [Message(CONFIG.bulk_topic, 0, 0, event.encode())]
    await first.engine.step()
    first.engine.checkpoint()
    changelog = [Message(CONFIG.versions_changelog, p, n, v, k)
                 for n, (t, k, v, _, p) in enumerate(first.outbox.sent)
                 if t == CONFIG.versions_changelog]
    second = Rig(changelog=[*changelog, Message(CONFIG.versions_changelog, 0, 9, None,
                                                b"gone")])
    second.assign(0)
    assert set(second.engine.versions[0]) == {k for k, _ in first.outbox.to(
        CONFIG.versions_changelog)}
    stale = raw("item", item("1", name="old", modified=T0 - timedelta(hours=1)),
                source="poll.full", kind="snapshot")
    second.consumer.queue = [Message(CONFIG.bulk_topic, 0, 0, event.encode()),
                             Message(CONFIG.bulk_topic, 0, 1, stale.encode())]
    await second.engine.step()
    # The redelivery republishes the very same event (same id); the stale one is skipped.
    assert [e.event_id for e in _synced(second.outbox)] == [
        e.event_id for e in _synced(first.outbox)]


async def test_lost_partitions_forget_unsaved_state() -> None:
    rig = Rig()
    rig.assign(0)
    await _step_snapshot(rig, 0, "1")
    rig.engine._on_lost(rig.consumer,  # type: ignore[arg-type]  # a stub
                        [TopicPartition(CONFIG.bulk_topic, 0)])
    assert rig.engine.versions.owned() == [] and rig.engine._offsets == {}
    rig.consumer.queue = [Message(CONFIG.bulk_topic, 0, 1, raw("item", item("2")).encode())]
    await rig.engine.step()  # no longer ours: not processed
    assert [e.entity_id for e in _synced(rig.outbox)] == ["1"]


async def test_the_ledger_closes_a_run_from_batched_counts() -> None:
    rig = Rig()
    rig.assign(0)
    done = SyncRunEvent(event_id="p", run_id="r9", status="completed", run_type="stock",
                        source="zoho", org_id="42", entity_types=["stock"], at=NOW,
                        started_at=NOW, sent=3)
    ledger = CONFIG.ledger_topic
    rig.consumer.queue = [
        Message(ledger, 0, 0, count_message("r9", "changed", "poll.stock", "42", 1, n=2),
                key=b"r9"),
        Message(ledger, 0, 1, count_message("r9", "unchanged", "poll.stock", "42", 1),
                key=b"r9"),
        Message(ledger, 0, 2, poller_message(done, 2), key=b"r9"),
    ]
    await rig.engine.step()
    runs = rig.outbox.to(CONFIG.sync_runs_topic)
    assert len(runs) == 1 and runs[0][0] == b"42:sync_run:r9"
    event = decode_event(runs[0][1] or b"")
    assert isinstance(event, SyncRunEvent)
    assert (event.status, event.seen, event.changed, event.unchanged) == ("completed", 3, 2, 1)


async def test_poller_events_are_forwarded_to_the_ledger_but_ours_are_not() -> None:
    rig = Rig()
    rig.assign(0)
    started = SyncRunEvent(event_id="s", run_id="r5", status="started", run_type="full",
                           source="zoho", org_id="42", entity_types=["item"], at=NOW)
    ours = [("ce_source", CONFIG.source.encode())]
    rig.consumer.queue = [Message(CONFIG.sync_runs_topic, 0, 0, started.encode()),
                          Message(CONFIG.sync_runs_topic, 0, 1, started.encode(), headers=ours)]
    await rig.engine.step()
    forwarded = rig.outbox.to(CONFIG.ledger_topic)
    assert [k for k, _ in forwarded] == [b"r5"]
    assert orjson.loads(forwarded[0][1] or b"")["status"] == "started"


def test_changelog_state_writes_each_dirty_key_once() -> None:
    state = ChangelogState("t", restore_consumer=lambda: Consumer([]))  # type: ignore[arg-type,return-value]
    state.restore([3])
    state[3][b"a"] = b"1"
    state[3][b"a"] = b"2"
    state[3][b"b"] = b"3"
    state[3].delete(b"b")
    out: list[tuple[bytes, bytes | None]] = []
    assert state.flush_to(lambda topic, *, key, value, partition: out.append((key, value))) == 2
    assert sorted(out) == [(b"a", b"2"), (b"b", None)]
    assert state.flush_to(lambda topic, *, key, value, partition: out.append((key, value))) == 0



async def test_a_failed_worker_leaves_without_committing() -> None:
    rig = Rig()
    rig.assign(0)
    rig.consumer.queue = [Message(CONFIG.bulk_topic, 0, 0, raw(
        "item", item("1"), source="poll.full", kind="snapshot").encode())]

    def broken(timeout_s: float = 60.0) -> None:
        raise RuntimeError("delivery failed")

    rig.outbox.flush = broken  # type: ignore[method-assign]  # the failure under test
    rig.engine.subscribe = lambda: None  # type: ignore[method-assign]  # the stub has no group
    rig.engine.config = CONFIG.__class__(bootstrap="x:1", app_id="unit", commit_interval_s=0)
    with pytest.raises(RuntimeError, match="delivery failed"):
        await rig.engine.run()
    rig.engine._on_revoke(rig.consumer,  # type: ignore[arg-type]  # as close() would
                          [TopicPartition(CONFIG.bulk_topic, 0)])
    assert rig.consumer.commits == [] and "abort" in rig.journal


class Gate:
    """A downstream gate whose answer the test sets."""

    closed = False

    def update(self) -> bool:
        return self.closed


def _paused(consumer: Consumer, topic: str) -> set[int]:
    return {tp.partition for tp in consumer.paused if tp.topic == topic}


async def test_bulk_input_waits_while_the_projector_lags_and_realtime_flows() -> None:
    gate = Gate()
    rig = Rig(gate=gate)
    rig.assign(0, 1)
    assert _paused(rig.consumer, CONFIG.bulk_topic) == set()
    gate.closed = True
    rig.realtime.queue = [Message(CONFIG.realtime_topic, 0, 1, raw("item", item("r")).encode())]
    assert await rig.engine.step() == 1  # the realtime event still goes through
    assert _paused(rig.consumer, CONFIG.bulk_topic) == {0, 1}
    assert _paused(rig.consumer, CONFIG.realtime_topic) == {0, 1}  # read by the other one
    assert rig.engine.metrics.registry.get_sample_value("tds_bulk_input_paused") == 1
    rig.assign(0, 1)  # a rebalance while the gate is closed keeps bulk paused
    assert _paused(rig.consumer, CONFIG.bulk_topic) == {0, 1}
    gate.closed = False
    await rig.engine.step()
    assert _paused(rig.consumer, CONFIG.bulk_topic) == set()
    assert _paused(rig.consumer, CONFIG.realtime_topic) == {0, 1}
    assert rig.engine.metrics.registry.get_sample_value("tds_bulk_input_paused") == 0


async def test_a_checkpoint_serves_webhooks_while_it_waits_for_acknowledgements() -> None:
    rig = Rig()
    rig.assign(0)
    await _step_snapshot(rig, 41, "1")
    waits: list[float] = []

    def settle(timeout_s: float) -> int:  # a webhook comes while one output is unacked
        waits.append(timeout_s)
        if len(waits) == 1:
            rig.realtime.queue = [Message(CONFIG.realtime_topic, 0, 7,
                                          raw("item", item("rt")).encode())]
            return 1
        return 0

    rig.outbox.settle = settle  # type: ignore[method-assign]
    rig.engine._last_checkpoint = -1e9  # a checkpoint is due
    rig.journal.clear()
    await rig.engine.step()
    assert len(waits) == 2 and max(waits) <= 0.01
    # Served before the checkpoint's flush, and committed by it.
    assert rig.journal.index(f"send {CONFIG.synced_topic}") < rig.journal.index("flush")
    assert [e.entity_id for e in _synced(rig.outbox)] == ["1", "rt"]
    rig.engine.checkpoint()
    committed = {(tp.topic, tp.partition, tp.offset) for c in rig.consumer.commits for tp in c}
    assert (CONFIG.realtime_topic, 0, 8) in committed
