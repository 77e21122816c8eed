"""The faust app of `tds worker`: its topics, tables, agents and timer.

- `realtime` and `bulk` agents read the two raw topics separately, each with its own
  concurrency; faust pauses a partition whose buffer is full, so a bulk backlog waits in
  Kafka instead of in front of webhook events.
- Both agents share the `versions` table (key `org:type:id` → packed `Version`), which
  is co-partitioned with the raw topics: partition p of every topic is on one worker.
- `tds.entity.synced` is written to the raw event's partition, so the same key keeps one
  partition end to end (the raw topics and the synced topic have equal partition counts).
- `sync-runs` forwards pollers' run events into the `run-ledger` topic (keyed by run id),
  where `ledger` folds them with per-event counts into the `runs` table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import orjson
from faust.types import EventT, StreamT

from schemas.cloudevents import ce_headers, header_map
from schemas.codec import Codec, default_codec
from schemas.errors import CodecError
from schemas.events import RawEvent, SyncRunEvent, decode_event
from schemas.topics import entity_key
from streams.config import StreamsConfig
from streams.emit import Emitter
from streams.failures import FailureRouter
from streams.fetch import RecordFetcher
from streams.pipeline import Position, Processor, Result, micros
from streams.priority import prioritise
from streams.runs import COUNTED_BY, RunState, apply, count_message, poller_message, tick_message
from streams.versions import RANK_BULK, RANK_REALTIME
from tds.metrics import Metrics

logger = logging.getLogger(__name__)

_RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                        "key_serializer": "raw", "value_serializer": "raw"}
_DONE_RUN_RETENTION_S = 86_400.0


def _headers(headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None
             ) -> Sequence[tuple[str, bytes]]:
    if headers is None:
        return ()
    return list(headers.items()) if isinstance(headers, Mapping) else headers


def _outcome(result: Result) -> str:
    if result.verdict.emits:
        return "deleted" if result.op == "delete" else "changed"
    return "unchanged"


class StreamsApp:
    """Builds the faust app for one `StreamsConfig` (`.app` is the faust.App)."""

    def __init__(
        self,
        config: StreamsConfig,
        *,
        fetcher: RecordFetcher,
        metrics: Metrics | None = None,
        codec: Codec | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.metrics = metrics or Metrics.create()
        self._codec = codec or default_codec()
        self._clock = clock
        self.app = faust.App(
            config.app_id,
            broker=[f"kafka://{server.strip()}" for server in config.bootstrap.split(",")],
            store=config.store,
            datadir=f"{config.data_dir}/{config.app_id}",
            processing_guarantee=config.processing_guarantee,
            topic_partitions=config.partitions,
            topic_replication_factor=config.replication,
            topic_disable_leader=True,
            web_enabled=False,
            broker_max_poll_records=config.max_poll_records,
            stream_buffer_maxsize=config.stream_buffer_maxsize,
            producer_linger_ms=config.producer_linger_ms,
            producer_acks=-1,
            broker_commit_interval=config.commit_interval_s,
            broker_session_timeout=config.session_timeout_s,
            broker_heartbeat_interval=min(3.0, config.session_timeout_s / 3),
            consumer_auto_offset_reset="earliest",
            key_serializer="raw",
            value_serializer="raw",
        )
        self.realtime = self.app.topic(config.realtime_topic, **_RAW)
        self.bulk = self.app.topic(config.bulk_topic, **_RAW)
        self.sync_runs = self.app.topic(config.sync_runs_topic, **_RAW)
        prioritise(self.app, [config.realtime_topic])
        self.ledger = self.app.topic(config.ledger_topic, internal=True,
                                     partitions=config.partitions,
                                     retention=timedelta(days=7), **_RAW)
        options = {"driver": "rocksdict"} if config.store.startswith("rocksdb") else None
        self.versions = self.app.Table("versions", key_type=bytes, value_type=bytes,
                                       partitions=config.partitions, options=options,
                                       help="Version of each record, by org:type:id")
        self.runs = self.app.Table("runs", key_type=bytes, value_type=bytes,
                                   partitions=config.partitions, options=options,
                                   help="Counts of each sync run, by run id")
        self.processor = Processor(
            ranks={config.realtime_topic: RANK_REALTIME, config.bulk_topic: RANK_BULK},
            fetcher=fetcher, codec=self._codec, source=config.source, clock=clock)
        self.router = FailureRouter(config, clock)
        self.emitter = Emitter(self.app, exactly_once=config.exactly_once)
        stage = config.stage
        self._in = {t: self.metrics.events_in.labels(t, stage)
                    for t in (config.realtime_topic, config.bulk_topic)}
        self._out = self.metrics.events_out.labels(config.synced_topic)
        self._latency = self.metrics.processing_latency.labels(stage)

        self.app.agent(self.realtime, name="realtime",
                       concurrency=config.realtime_concurrency)(self._raw_agent)
        self.app.agent(self.bulk, name="bulk",
                       concurrency=config.bulk_concurrency)(self._raw_agent)
        self.app.agent(self.sync_runs, name="sync-runs")(self._sync_runs_agent)
        self.app.agent(self.ledger, name="ledger")(self._ledger_agent)
        self.app.timer(config.run_check_interval_s, name="run-deadlines")(self._check_runs)

    # -- raw events ----------------------------------------------------------------------

    async def _raw_agent(self, stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await self.handle_raw(event)

    async def handle_raw(self, event: EventT[bytes]) -> None:
        """Process one raw message; failures go to the retry chain, never up."""
        message = event.message
        started = time.perf_counter()
        self._in[message.topic].inc()
        position = Position(message.topic, message.partition, message.offset)
        raw: RawEvent | None = None
        try:
            raw = self.processor.decode(message.value, position)
            result = await self.processor.process(raw, _headers(message.headers), position,
                                                  self.versions)
        except Exception as exc:
            await self._fail(event, exc, raw)
        else:
            if result.value is not None:
                await self.emitter.send(self.config.synced_topic, result.key, result.value,
                                        result.headers, partition=message.partition,
                                        source=message.tp)
                self._out.inc()
            else:
                self.metrics.events_skipped.labels(result.entity_type,
                                                   result.verdict.value).inc()
            if result.sync_run_id and result.attempt == 0:
                await self._count(result.sync_run_id, _outcome(result), raw, event)
        self._latency.observe(time.perf_counter() - started)

    async def _fail(self, event: EventT[bytes], error: Exception,
                    raw: RawEvent | None) -> None:
        message = event.message
        failed = self.router.route(
            key=message.key, value=message.value, headers=_headers(message.headers),
            topic=message.topic, partition=message.partition, offset=message.offset,
            timestamp_ms=int((message.timestamp or 0) * 1000), error=error)
        where = {"topic": message.topic, "partition": message.partition,
                 "offset": message.offset}
        if failed.dead:
            logger.error("%s[%d]@%d → %s (%s): %s", message.topic, message.partition,
                         message.offset, failed.topic, failed.reason, error, extra=where)
            self.metrics.dead_letters.labels(self.config.stage, failed.reason).inc()
        else:
            logger.warning("%s[%d]@%d → %s: %r", message.topic, message.partition,
                           message.offset, failed.topic, error, extra=where)
            self.metrics.retries_scheduled.labels(self.config.stage,
                                                  str(failed.attempt)).inc()
        await self.emitter.send(failed.topic, failed.key, failed.value, failed.headers,
                                source=message.tp)
        if raw is not None and raw.sync_run_id and failed.attempt == 1:
            await self._count(raw.sync_run_id, "failed", raw, event)

    async def _count(self, run_id: str, outcome: str, raw: RawEvent | None,
                     event: EventT[bytes]) -> None:
        source = raw.source if raw is not None else ""
        org = raw.org_id if raw is not None else ""
        await self.emitter.send(self.config.ledger_topic, run_id.encode(),
                                count_message(run_id, outcome, source, org,
                                              micros(self._clock())),
                                None, source=event.message.tp)

    # -- sync runs -----------------------------------------------------------------------

    async def _sync_runs_agent(self, stream: StreamT[bytes]) -> None:
        own = self.config.source.encode()
        async for event in stream.events():
            message = event.message
            if header_map(message.headers).get("ce_source") == own:
                continue
            try:
                run = decode_event(message.value or b"", codec=self._codec,
                                   topic=message.topic, partition=message.partition,
                                   offset=message.offset)
            except CodecError as exc:
                logger.warning("skipping unreadable sync-run event: %s", exc)
                continue
            if not isinstance(run, SyncRunEvent) or (
                    run.configuration.get("counted_by") == COUNTED_BY):
                continue
            await self.emitter.send(self.config.ledger_topic, run.run_id.encode(),
                                    poller_message(run, micros(self._clock())), None,
                                    source=message.tp)

    async def _ledger_agent(self, stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await self.handle_ledger(event)

    async def handle_ledger(self, event: EventT[bytes]) -> None:
        """Fold one ledger message into its run; publish the run's end when it ends."""
        message = event.message
        if message.key is None or message.value is None:
            return
        stored = self.runs.get(message.key)
        previous = RunState.unpack(stored) if stored is not None else None
        data = orjson.loads(message.value)
        now = self._clock()
        if data.get("t") == "tick" and previous is not None and previous.done:
            if (micros(now) - previous.last_activity_us) / 1e6 >= _DONE_RUN_RETENTION_S:
                del self.runs[message.key]
            return
        state, closing = apply(previous, data, now_us=micros(now),
                               idle_timeout_s=self.config.run_idle_timeout_s)
        if state != previous:
            self.runs[message.key] = state.pack()
        if closing is None:
            return
        headers = ce_headers(f"tds.sync.{closing.status}", self.config.source,
                             event_id=closing.event_id, time=closing.at)
        await self.emitter.send(self.config.sync_runs_topic,
                                entity_key(closing.org_id, "sync_run", closing.run_id),
                                closing.encode(self._codec), headers, source=message.tp)
        self.metrics.sync_runs.labels(closing.run_type, closing.status).inc()
        if closing.started_at is not None:
            self.metrics.sync_run_duration.labels(closing.run_type).observe(
                (closing.at - closing.started_at).total_seconds())
        logger.info("sync run %s %s: seen %d, changed %d, unchanged %d, failed %d, "
                    "deleted %d", closing.run_id, closing.status, closing.seen,
                    closing.changed, closing.unchanged, closing.failed, closing.deleted)

    async def _check_runs(self) -> None:
        now_us = micros(self._clock())
        for key, value in list(self.runs.items()):
            state = RunState.unpack(value)
            idle_s = (now_us - state.last_activity_us) / 1e6
            limit = _DONE_RUN_RETENTION_S if state.done else self.config.run_idle_timeout_s
            if idle_s >= limit:
                await self.emitter.send(self.config.ledger_topic, key,
                                        tick_message(state.run_id, now_us), None)

