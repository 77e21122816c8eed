"""The worker's loop: one confluent-kafka consumer, batches, realtime first, checkpoints.

One consumer in the app's group subscribes to both raw topics, the sync-runs topic and
the internal run ledger, with the `range` assignor: for topics of equal partition counts
it gives partition p of every topic to one member, so the realtime and bulk events of a
record meet the same in-memory versions partition (and its changelog partition).

A batch is what `consume` has at hand (up to `batch_max`). Realtime events go first, so
a webhook waits at most for the batch it arrived in, plus the small local prefetch queue
in front of it (`queued_max_kbytes`): a bulk backlog waits in Kafka, not in the worker.

Every `commit_interval_s` (and before partitions are revoked) a checkpoint makes the
progress durable, in this order (at least once):

1. flush the outputs (synced, retries, dead letters, ledger) and check their delivery;
2. produce the state changed since the last checkpoint to the changelogs, see them delivered;
3. commit the consumed offsets.

A crash anywhere before 3 replays from the last commit against the state of the last
checkpoint (or newer), so no event is lost; what was already published may be
published again (same event id; readers keep the greatest version). Exactly once, the
three steps are one Kafka transaction (`streams.emit.Outbox.commit`).

At least once, the periodic checkpoint does not wait for its changelog records: its
offsets are held and committed by the next checkpoint, right after that one's flush of
the outputs has acknowledged them too (the order stands; a crash replays up to two
intervals). The wait for the changelog took ~4% of the loop's time. The last checkpoint
(stopping, revoked partitions) waits for everything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from schemas.codec import Codec, default_codec
from streams.backpressure import DownstreamGate
from streams.config import StreamsConfig
from streams.emit import Outbox, transactional_id
from streams.failures import FailureRouter
from streams.fetch import RecordFetcher
from streams.handler import BULK_CHUNK, Counts, Handler
from streams.ledger import Ledger
from streams.pipeline import Processor
from streams.state import ChangelogState
from streams.versions import RANK_BULK, RANK_REALTIME
from tds.kafka import MessageLike, consumer_config
from tds.kafka_group import GroupMember
from tds.metrics import Metrics

logger = logging.getLogger(__name__)
# The longest a webhook waits while a checkpoint waits for acknowledgements.
SETTLE_SLICE_S = 0.005



def consumer_settings(config: StreamsConfig) -> dict[str, Any]:
    """The group consumer's settings (exposed so the bench and tests can see them)."""
    session_ms = int(config.session_timeout_s * 1000)
    return consumer_config(config.bootstrap, config.app_id, **{
        "partition.assignment.strategy": "range",
        "session.timeout.ms": session_ms,
        "heartbeat.interval.ms": min(3000, session_ms // 3),
        "queued.min.messages": config.queued_min_messages,
        "queued.max.messages.kbytes": config.queued_max_kbytes,
        "client.id": f"{config.app_id}-worker",
    })


class Engine:
    """Runs one worker process: consume, process, produce, checkpoint."""

    def __init__(
        self,
        config: StreamsConfig,
        *,
        fetcher: RecordFetcher,
        metrics: Metrics | None = None,
        codec: Codec | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        consumer: Consumer | None = None,
        realtime_consumer: Consumer | None = None,
        outbox: Outbox | None = None,
        restore_consumer: Callable[[], Consumer] | None = None,
        gate: DownstreamGate | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or Metrics.create()
        self._codec = codec or default_codec()
        self._clock = clock
        self.outbox = outbox or Outbox(
            config.bootstrap, linger_ms=config.producer_linger_ms,
            transactional_id=transactional_id(config.app_id) if config.exactly_once else None)
        settings = consumer_settings(config)
        # The client is built now (the loop pauses, polls and assigns it directly); the
        # membership (subscribe with callbacks, commit, leave) is the shared one.
        self.consumer = consumer or Consumer(settings)
        self.member = GroupMember(
            settings, [config.realtime_topic, config.bulk_topic, config.sync_runs_topic,
                       config.ledger_topic],
            name=f"worker {config.app_id}", on_assign=self._on_assign, on_revoke=self._on_revoke,
            on_lost=self._on_lost, factory=lambda _settings: self.consumer)
        # The realtime partitions the group gives us are paused on the group consumer and
        # read by this one: its own local queue, never behind a fetched bulk backlog.
        self.realtime_consumer = realtime_consumer or Consumer(consumer_config(
            config.bootstrap, config.app_id, **{"client.id": f"{config.app_id}-realtime",
                                                "fetch.wait.max.ms": 100}))
        restore = restore_consumer or (lambda: Consumer(consumer_config(
            config.bootstrap, f"{config.app_id}-restore", **{"client.id":
                                                             f"{config.app_id}-restore"})))
        self.versions = ChangelogState(config.versions_changelog, restore_consumer=restore)
        self.runs = ChangelogState(config.runs_changelog, restore_consumer=restore)
        self.processor = Processor(
            ranks={config.realtime_topic: RANK_REALTIME, config.bulk_topic: RANK_BULK},
            fetcher=fetcher, codec=self._codec, source=config.source, clock=clock)
        self.router = FailureRouter(config, clock)
        self.handler = Handler(config, processor=self.processor, outbox=self.outbox,
                               router=self.router, metrics=self.metrics)
        self.ledger = Ledger(config, outbox=self.outbox, runs=self.runs, metrics=self.metrics,
                             codec=self._codec, clock=clock)
        self._raw_topics = (config.realtime_topic, config.bulk_topic)
        self._offsets: dict[tuple[str, int], int] = {}  # next offset to commit
        # Offsets of the last periodic checkpoint, whose changelog records are in flight.
        self._held: dict[tuple[str, int], int] = {}
        self._last_checkpoint = time.monotonic()
        self._last_deadline_check = time.monotonic()
        self.stopping = False
        self._failed = False
        self.gate = gate
        self._bulk_paused = False

    # -- lifecycle -----------------------------------------------------------------------

    def subscribe(self) -> None:
        """Join the group on the worker's topics."""
        self.member.join()

    async def run(self) -> None:
        """Process until `stopping` is set, then checkpoint and leave the group."""
        self.subscribe()
        try:
            while not self.stopping:
                await self.step()
            self.checkpoint(final=True)
        except BaseException:
            # Leaving the group runs the revoke callback: it must not commit past what
            # may not have been delivered.
            self._failed = True
            self.outbox.abort()
            raise
        finally:
            self.member.close()  # leaves the group (its revoke callback uses the others)
            self.realtime_consumer.close()
            self.outbox.close()

    async def step(self, timeout_s: float = 0.05) -> int:
        """One round: the realtime events at hand, then a batch of the group consumer's
        (waiting up to `timeout_s` when there is nothing at all), maybe a checkpoint;
        returns how many messages were processed."""
        batch_max = self.config.batch_max
        self._gate_bulk()
        urgent = await self.urgent()
        batch: list[MessageLike] = []
        first = self.consumer.poll(0 if urgent else timeout_s)
        if first is not None:
            batch.append(first)
            batch.extend(self.consumer.consume(batch_max - 1, 0))
        if batch:
            self.outbox.begin()
            await self.process(batch)
        self.outbox.poll()
        now = time.monotonic()
        if now - self._last_deadline_check >= self.config.run_check_interval_s:
            self._last_deadline_check = now
            self.outbox.begin()
            self.ledger.check_deadlines()
        # Outputs alone (deadline ticks) need a checkpoint too: exactly once, an open
        # transaction must commit before the broker's timeout aborts it.
        if ((self._offsets or self._held or self.outbox.pending)
                and now - self._last_checkpoint >= self.config.commit_interval_s):
            await self._settle()
            self.checkpoint(final=False)
        await asyncio.sleep(0)  # let the loop run its callbacks (signals, fetch clients)
        return urgent + len(batch)

    async def urgent(self) -> int:
        """Process the realtime events at hand (between bulk chunks too); how many."""
        messages = self.realtime_consumer.consume(self.config.batch_max, 0)
        if messages:
            self.outbox.begin()
            await self.process(messages)
        return len(messages)

    async def _settle(self, timeout_s: float = 60.0) -> None:
        """Wait for the outputs' acknowledgements in short slices, serving realtime events
        between them, so that the checkpoint's own flush has little left to wait for: a
        webhook waited for the whole flush otherwise (tens of ms, the p99 behind a
        backlog). Failures are the checkpoint's flush's to report."""
        deadline = time.monotonic() + timeout_s
        while self.outbox.settle(SETTLE_SLICE_S) and time.monotonic() < deadline:
            await self.urgent()

    def _gate_bulk(self) -> None:
        """Pause or resume the bulk partitions as the downstream gate says."""
        if self.gate is None:
            return
        closed = self.gate.update()
        if closed == self._bulk_paused:
            return
        self._bulk_paused = closed
        bulk = [TopicPartition(tp.topic, tp.partition) for tp in self.consumer.assignment()
                if tp.topic == self.config.bulk_topic]
        if bulk:
            (self.consumer.pause if closed else self.consumer.resume)(bulk)
        self.metrics.bulk_paused.set(1 if closed else 0)

    # -- one batch -----------------------------------------------------------------------

    async def process(self, batch: Sequence[MessageLike]) -> None:
        """Process one batch: realtime events, then sync-run messages, then bulk events."""
        c = self.config
        realtime: list[MessageLike] = []
        bulk: list[MessageLike] = []
        offsets = self._offsets
        for message in batch:
            error: Any = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    logger.warning("consumer: %s", error)
                continue
            topic = message.topic()
            if topic == c.realtime_topic or topic == c.bulk_topic:
                if message.partition() not in self.versions:
                    continue  # fetched before a rebalance took its partition away
                (realtime if topic == c.realtime_topic else bulk).append(message)
            elif topic == c.ledger_topic:
                self.ledger.fold(message)
            elif topic == c.sync_runs_topic:
                self.ledger.forward(message)
            else:
                continue
            offsets[topic or "", message.partition() or 0] = (message.offset() or 0) + 1
        counts: Counts = {}
        raw, versions = self.handler.raw, self.versions.__getitem__
        if realtime:
            await raw(realtime, c.realtime_topic, counts, versions)
        for start in range(0, len(bulk), BULK_CHUNK):
            if start:
                await self.urgent()
            await raw(bulk[start:start + BULK_CHUNK], c.bulk_topic, counts, versions)
        if counts:
            self.ledger.count(counts)

    # -- durability ----------------------------------------------------------------------

    def checkpoint(self, *, final: bool = True) -> None:
        """Make everything processed so far durable: outputs, then state, then offsets;
        not `final` (at least once), this checkpoint's offsets wait for the next one."""
        if self.outbox.transactional:
            offsets = [TopicPartition(t, p, o) for (t, p), o in self._offsets.items()]
            self.versions.flush_to(self.outbox.changelog)
            self.runs.flush_to(self.outbox.changelog)
            self.outbox.commit(offsets, self.consumer.consumer_group_metadata())
        else:
            # Outputs, and the changelog records of the checkpoint whose offsets are held.
            self.outbox.flush()
            ready = self._held
            self._held = {}
            if self.versions.flush_to(self.outbox.changelog) + self.runs.flush_to(
                    self.outbox.changelog):
                if final:
                    self.outbox.flush()
                    ready.update(self._offsets)
                else:  # acknowledged by the next checkpoint's flush
                    self._held = dict(self._offsets)
            else:
                ready.update(self._offsets)
            self._commit([TopicPartition(t, p, o) for (t, p), o in ready.items()])
        self._offsets.clear()
        self._last_checkpoint = time.monotonic()

    def _commit(self, offsets: list[TopicPartition]) -> None:
        if not offsets:
            return
        # Waited for (~1 ms a second): an asynchronous commit with an `on_commit` callback
        # was followed by a worker SIGSEGV when the broker went down (chaos run). Refused,
        # the group moved on (rebalance): the new owner replays from the last commit
        # against state at least this new: duplicates, never loss.
        self.member.commit(offsets=offsets, asynchronous=False,
                           failed="commit failed, the next owner replays")

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        raw = {tp.partition for tp in partitions if tp.topic in self._raw_topics}
        ledger = {tp.partition for tp in partitions if tp.topic == self.config.ledger_topic}
        # Partitions kept across the rebalance stay in memory: nobody else had them.
        self.versions.restore(self.versions.keep_only(raw))
        self.runs.restore(self.runs.keep_only(ledger))
        consumer.assign(partitions)
        realtime = [tp for tp in partitions if tp.topic == self.config.realtime_topic]
        held = realtime + ([tp for tp in partitions if tp.topic == self.config.bulk_topic]
                           if self._bulk_paused else [])
        if held:
            consumer.pause(held)
        if realtime:
            # No offset: it starts at the group's committed offset (or the earliest).
            self.realtime_consumer.assign([TopicPartition(tp.topic, tp.partition)
                                           for tp in realtime])
        logger.info("assigned %s", ", ".join(f"{tp.topic}[{tp.partition}]"
                                             for tp in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._failed:
            return
        logger.info("revoking %d partitions: checkpoint first", len(partitions))
        self.checkpoint(final=True)
        self.realtime_consumer.unassign()

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Someone else owns them now and may have moved on: forget everything not yet
        # checkpointed and start again from the changelogs at the next assignment.
        logger.warning("lost %d partitions (session timed out?)", len(partitions))
        self.outbox.abort()
        self.realtime_consumer.unassign()
        self.versions.drop(self.versions.owned())
        self.runs.drop(self.runs.owned())
        self._offsets.clear()
        self._held.clear()

