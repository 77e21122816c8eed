"""The faust engine: a faust-streaming app whose agents host the stream pipeline.

Agents on `zoho.raw.realtime` and `zoho.raw.bulk` take batches of events (raw bytes,
positions and headers at hand) and hand them to the same `streams.handler.Handler` the
batched engine uses; agents on the sync-runs topic and the run ledger feed the same
`streams.ledger.Ledger`. Outputs go through the same `streams.emit.Outbox` (one
confluent-kafka producer that checks delivery), so both engines write the same bytes
to the same partitions. State lives in two faust Tables, `versions` and `runs`, whose
changelog topics (`{app_id}-versions-changelog`, `{app_id}-runs-changelog`, raw key and
value bytes) are the batched engine's: a deployment can switch engines either way.

Realtime events skip faust's fetch path: the realtime partitions faust's group assigns are
paused in faust's consumer and read by a confluent-kafka consumer of their own, whose
events the engine processes between bulk chunks and every few milliseconds
(`streams.faust_realtime` says why); their offsets are committed through faust's
consumer by the checkpoint.

At least once, in the batched engine's order (outputs → state → offsets): an agent's
writes to a table wait in an overlay (`Deferred`) that reads see; every
`commit_interval_s` a checkpoint flushes the outbox, then applies the overlay's writes
to the tables' stores and produces each changed key's last value to the table's
changelog through the outbox, flushes again, then acks the events; faust commits only
acked offsets. A crash anywhere replays from the last commit against state no newer
than its outputs. The changelog records go through the outbox, not faust's aiokafka
producer: one record per key and checkpoint, from librdkafka, where faust's per-write
records through its Python producer took most of the worker's time (measured: 30,000
events in 33 s against a few seconds).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, MutableMapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition as AioTopicPartition
from confluent_kafka import Consumer
from faust.sensors import Monitor
from faust.types import TP

from schemas.codec import Codec, default_codec
from streams.backpressure import DownstreamGate
from streams.config import StreamsConfig
from streams.emit import Outbox
from streams.failures import FailureRouter
from streams.faust_auth import broker_credentials
from streams.faust_patches import contiguous_fetch, reread_after_resume, short_fetch_waits
from streams.faust_realtime import RealtimeReader, TrackedRealtime
from streams.faust_tables import (
    Deferred,
    EventT,
    FaustMessage,
    RunsView,
    Tracked,
    kafka_partition,
)
from streams.fetch import RecordFetcher
from streams.handler import BULK_CHUNK, Counts, Handler
from streams.ledger import Ledger
from streams.pipeline import Processor
from streams.versions import RANK_BULK, RANK_REALTIME
from tds.kafka import consumer_config, security
from tds.metrics import Metrics

logger = logging.getLogger(__name__)

STORES = ("memory://", "rocksdb://")
# How often the realtime consumer is looked at while no bulk chunk does it.
REALTIME_POLL_S = 0.005


class LagMonitor(Monitor):
    """Faust's monitor, which also puts faust's view of the worker group's lag (each
    partition's high watermark less its commit, at every commit) into
    `tds_consumer_lag_messages`."""

    def __init__(self, metrics: Metrics, group: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gauge, self._group = metrics.consumer_lag, group
        self.app: Any = None  # set once the app exists

    # Per record and event: faust's counters and timings nobody reads here (its web
    # server is off); ~3% of the main thread draining a backlog.
    def on_message_in(self, tp: TP, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(self, tp: TP, offset: int, stream: Any, event: Any,
                            state: Any = None) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: Any) -> None:
        return None

    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_tp_commit(self, tp_offsets: MutableMapping[TP, int]) -> None:
        super().on_tp_commit(tp_offsets)
        if self.app is None:
            return
        consumer = self.app.consumer
        for tp, offset in tp_offsets.items():
            high = _highwater(consumer, tp)  # a commit at revocation: maybe gone already
            if high is not None:
                self._gauge.labels(self._group, tp.topic, str(tp.partition)).set(
                    max(0, high - offset))


class FaustEngine:
    """One faust app per process: agents, tables, the checkpoint and gate loops."""

    def __init__(
        self,
        config: StreamsConfig,
        *,
        fetcher: RecordFetcher,
        metrics: Metrics | None = None,
        codec: Codec | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        store: str = "memory://",
        data_dir: Path | None = None,
        gate: DownstreamGate | None = None,
        outbox: Outbox | None = None,
        concurrency: int = 1,
        realtime_consumer: Consumer | None = None,
    ) -> None:
        if config.exactly_once:
            raise ValueError(
                "exactly_once is not offered on the faust engine: faust's transactions "
                "do not cover the outbox's outputs, so a killed worker could publish twice "
                "to read_committed readers; use --engine batched --guarantee exactly_once")
        if store not in STORES:
            raise ValueError(f"store must be one of {', '.join(STORES)}, got {store!r}")
        self.config = config
        self.metrics = metrics or Metrics.create()
        self._codec = codec or default_codec()
        self.outbox = outbox or Outbox(config.bootstrap, linger_ms=config.producer_linger_ms)
        self.gate = gate
        self.stopping = False
        brokers = [f"kafka://{host}" for host in config.bootstrap.split(",")]
        app_settings: dict[str, Any] = {
            "broker": brokers,
            "broker_credentials": broker_credentials(security()),
            # The API tells the engines of the group's members apart by this suffix.
            "broker_client_id": f"{config.app_id}-faust",
            "store": store,
            "topic_partitions": config.partitions,
            "topic_replication_factor": config.replication,
            "processing_guarantee": "at_least_once",
            "broker_commit_interval": config.commit_interval_s,
            "broker_session_timeout": config.session_timeout_s,
            "broker_heartbeat_interval": min(3.0, config.session_timeout_s / 3),
            "consumer_auto_offset_reset": "earliest",
            "web_enabled": False,
            "table_standby_replicas": 0,
            "key_serializer": "raw",
            "value_serializer": "raw",
            "broker_max_poll_records": config.batch_max,
            # Room for a fetch of bulk events on top of a batch: faust stops fetching a
            # partition whose queue is under pressure, and a full queue would block the
            # delivery of realtime events fetched behind it.
            "stream_buffer_maxsize": 4 * config.batch_max,
            # aiokafka hands out a partition's fetched records before the next partition's,
            # so a record waits behind what was fetched of bulk partitions before it: small
            # fetches keep that short (faust's default, 4 MB a partition, held a webhook
            # behind a 30,000-event backlog for 13 s; webhooks are read outside faust now,
            # sync-run events still come this way).
            "consumer_max_fetch_size": config.fetch_max_kbytes * 1024,
        }
        if data_dir is not None:
            app_settings["datadir"] = str(data_dir)
        short_fetch_waits(config.fetch_max_wait_ms)
        contiguous_fetch()
        monitor = LagMonitor(self.metrics, config.app_id)
        self.app = app = faust.App(config.app_id, monitor=monitor, **app_settings)
        monitor.app = app
        reread_after_resume(app)
        partitions = config.partitions
        # Raw bytes both ways (the app's serializers): the batched engine's record layout.
        table_args: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                                      "partitions": partitions}
        self.versions_table = app.Table("versions", **table_args)
        self.runs_table = app.Table("runs", **table_args)
        # Versions are keyed like the raw topics, whose producers key by record.
        self.versions = Deferred(self.versions_table, lambda k: kafka_partition(k, partitions))
        self.runs = Deferred(self.runs_table, lambda k: kafka_partition(k, partitions))
        self.processor = Processor(
            ranks={config.realtime_topic: RANK_REALTIME, config.bulk_topic: RANK_BULK},
            fetcher=fetcher, codec=self._codec, source=config.source, clock=clock)
        self.router = FailureRouter(config, clock)
        self.handler = Handler(config, processor=self.processor, outbox=self.outbox,
                               router=self.router, metrics=self.metrics)
        self.ledger = Ledger(config, outbox=self.outbox,
                             runs=RunsView(self.runs, self._owned_ledger),
                             metrics=self.metrics, codec=self._codec, clock=clock)
        self._unacked: list[EventT] = []
        self._bulk_paused = False
        self._input_stopped = False
        self.realtime = RealtimeReader(realtime_consumer or Consumer(consumer_config(
            config.bootstrap, config.app_id, **{"client.id": f"{config.app_id}-realtime",
                                                "fetch.wait.max.ms": 100})),
            config.realtime_topic)
        self._urgent_lock = asyncio.Lock()  # one realtime batch at a time: offsets in order
        self._last_checkpoint = time.monotonic()
        self._lock = asyncio.Lock()
        def raw(name: str) -> Any:
            return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                             value_serializer="raw")

        # Instances of one raw agent share its partitions' events; the version rule keeps
        # them from undoing each other (its read and write of a key have no await between).
        # The realtime agent subscribes faust's group to the realtime topic, so partition p
        # of both raw topics comes to one worker; its partitions are paused in faust's
        # consumer and read by `self.realtime` (streams/faust_realtime.py says why). What
        # faust fetched before the pause reaches the agent and is processed as usual.
        app.agent(raw(config.realtime_topic), name="realtime",
                  concurrency=concurrency)(self._realtime)
        app.agent(raw(config.bulk_topic), name="bulk", concurrency=concurrency)(self._bulk)
        app.agent(raw(config.sync_runs_topic), name="sync-runs")(self._sync_runs)
        app.agent(raw(config.ledger_topic), name="run-ledger")(self._run_ledger)
        app.timer(config.commit_interval_s, name="checkpoint")(self._checkpoint_tick)
        app.timer(config.run_check_interval_s, name="run-deadlines")(self._deadlines)
        app.timer(0.05, name="bulk-gate")(self._gate)  # the downstream gate
        app.task(self._poll_realtime)
        app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]

    # -- agents --------------------------------------------------------------------------

    async def _realtime(self, stream: Any) -> None:
        # One event at a time: a take buffer's timer would add its wait to every webhook.
        async for event in stream.noack().events():
            await self._raw([event], self.config.realtime_topic)

    async def _bulk(self, stream: Any) -> None:
        async for events in stream.noack_take(self.config.batch_max, within=0.05):
            for start in range(0, len(events), BULK_CHUNK):
                await self.urgent()  # realtime events at hand go first
                await self._raw(events[start:start + BULK_CHUNK], self.config.bulk_topic)

    async def _poll_realtime(self) -> None:
        while not self.stopping:
            await self.urgent()
            await asyncio.sleep(REALTIME_POLL_S)

    async def stop_realtime(self) -> None:
        """Start no more realtime batches; wait for the one in progress."""
        self.stopping = True
        async with self._urgent_lock:
            pass

    async def urgent(self) -> None:
        """Process the realtime events at hand, unless a batch of them is in progress, a
        rebalance holds faust's streams (state being restored) or the worker stops."""
        if self._urgent_lock.locked() or self.stopping or not self.app.flow_control.is_active():
            return
        async with self._urgent_lock:
            messages = self.realtime.take(self.config.batch_max)
            if not messages:
                return
            counts: Counts = {}
            tracked = [TrackedRealtime(self.versions, m) for m in messages]
            await self.handler.raw(tracked, self.config.realtime_topic, counts, self._versions)
            if counts:
                self.ledger.count(counts)
            self.realtime.processed(messages)

    async def _sync_runs(self, stream: Any) -> None:
        async for events in stream.noack_take(self.config.batch_max, within=0.05):
            for event in events:
                self.ledger.forward(FaustMessage(event))
            self._unacked.extend(events)

    async def _run_ledger(self, stream: Any) -> None:
        async for events in stream.noack_take(self.config.batch_max, within=0.05):
            for event in events:
                self.runs.current = event
                self.ledger.fold(FaustMessage(event))
            self._unacked.extend(events)

    async def _raw(self, events: Sequence[EventT], topic: str) -> None:
        counts: Counts = {}
        messages = [Tracked(self.versions, event) for event in events]
        await self.handler.raw(messages, topic, counts, self._versions)
        if counts:
            self.ledger.count(counts)
        self._unacked.extend(events)

    def _versions(self, partition: int) -> Deferred:
        return self.versions

    def _owned_ledger(self) -> set[int]:
        topic = self.config.ledger_topic
        return {tp.partition for tp in self.app.consumer.assignment() if tp.topic == topic}

    # -- durability ----------------------------------------------------------------------

    async def _checkpoint_tick(self) -> None:
        await self.checkpoint()

    async def checkpoint(self) -> None:
        """Outputs delivered, then state written, then events acked (module doc)."""
        async with self._lock:
            events, self._unacked = self._unacked, []
            versions, runs = self.versions.take_writes(), self.runs.take_writes()
            offsets = self.realtime.take_offsets()  # of events whose outputs are queued
            if not (events or versions or runs or offsets):
                return
            loop = asyncio.get_running_loop()
            # A DeliveryFailed crashes the app before anything of this batch is acked.
            await loop.run_in_executor(None, self.outbox.flush)
            changed = self.versions.apply(versions, self.outbox.changelog)
            changed += self.runs.apply(runs, self.outbox.changelog)
            if changed:
                await loop.run_in_executor(None, self.outbox.flush)
            for event in events:
                event.ack()
            if offsets:  # faust's consumer is the group's member: the commit is its
                topic = self.config.realtime_topic
                await self.app.consumer._commit_offsets(  # type: ignore[attr-defined]
                    {TP(topic, p): o for p, o in offsets.items()})
            self._last_checkpoint = time.monotonic()

    async def _on_assigned(self, app: Any, assigned: set[TP], **_: Any) -> None:
        realtime = [tp for tp in assigned if tp.topic == self.config.realtime_topic]
        self._pause_fetching(realtime, True)
        self.realtime.assign(tp.partition for tp in realtime)

    async def _on_revoked(self, app: Any, revoked: set[TP], **_: Any) -> None:
        # Faust waited for our acks (wait_empty) and committed; the realtime events read
        # outside faust are checkpointed and committed here, while faust's consumer is
        # still the partitions' owner. Then drop what is left of the revoked partitions
        # so nothing of theirs is applied by a later checkpoint.
        async with self._urgent_lock:
            await self.checkpoint()
            self.realtime.revoke()
        lost = {tp.partition for tp in revoked if tp.topic in (
            self.config.realtime_topic, self.config.bulk_topic)}
        self.versions.forget(lost)
        ledger = {tp.partition for tp in revoked if tp.topic == self.config.ledger_topic}
        self.runs.forget(ledger)

    async def _deadlines(self) -> None:
        self.ledger.check_deadlines()

    def stop_input(self) -> None:
        """Stop fetching every assigned partition for good (the drain before a stop): what
        was fetched still reaches the agents, and the gate resumes nothing any more."""
        self._input_stopped = True
        self._pause_fetching(list(self.app.consumer.assignment()), True)

    def _pause_fetching(self, tps: list[TP], pause: bool) -> None:
        """Pause or resume fetching `tps` in aiokafka, on faust's consumer thread.

        Not faust's `pause_partitions`: it takes the partitions out of the set its fetch
        loop is iterating, and the records of that fetch still to come are dropped without
        a seek (the stream skipped them, and the commit stuck at the gap, until the next
        rebalance). aiokafka's pause keeps the position: what it held is fetched again."""
        thread: Any = self.app.consumer._thread  # type: ignore[attr-defined]
        client = thread._ensure_consumer()
        partitions = [AioTopicPartition(tp.topic, tp.partition) for tp in tps]
        def apply() -> None:
            # Only what aiokafka still has assigned: a rebalance may have moved the rest.
            owned = set(client.assignment())
            wanted = [tp for tp in partitions if tp in owned]
            if wanted:
                (client.pause if pause else client.resume)(*wanted)

        thread.thread_loop.call_soon_threadsafe(apply)

    async def _gate(self) -> None:
        # Advisory: a failure here must not stop the worker (faust crashes the app when a
        # timer raises); the next tick decides again.
        try:
            self._gate_once()
        except Exception as exc:
            logger.warning("bulk gate: %r (deciding again at the next tick)", exc)

    def _gate_once(self) -> None:
        if self._input_stopped or self.gate is None:
            return
        closed = self.gate.update()
        bulk = [tp for tp in self.app.consumer.assignment()
                if tp.topic == self.config.bulk_topic]
        if bulk and (closed or self._bulk_paused):
            self._pause_fetching(bulk, closed)  # paused again: a rebalance resumes them
        if closed != self._bulk_paused:
            self.metrics.bulk_paused.set(1 if closed else 0)
        self._bulk_paused = closed


def _highwater(consumer: Any, tp: TP) -> int | None:
    """The partition's high watermark, or None while a rebalance has it half assigned
    (faust's assignment and aiokafka's disagree then, and aiokafka asserts)."""
    try:
        high: int | None = consumer.highwater(tp)
    except (AssertionError, KafkaError):
        return None
    return high
