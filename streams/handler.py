"""What both engines do with a batch of raw messages: process, send, route failures, count.

The batched engine (`streams.engine`) and the faust agents (`streams.faust_app`) only
fetch messages and decide when progress is durable; everything between a raw message
and the bytes sent for it is here, so the two engines' outputs are the same bytes on the
same partitions (a contract test compares them).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, MutableMapping, Sequence

from schemas.events import RawEvent
from streams.config import StreamsConfig
from streams.emit import Outbox
from streams.failures import FailureRouter
from streams.pipeline import Position, Processor, Result, VersionStore
from tds.kafka import MessageLike
from tds.metrics import Metrics, observe_many

logger = logging.getLogger(__name__)

# Per-run counts of one batch: (run id, outcome) → (events, source, org).
Counts = dict[tuple[str, str], tuple[int, str, str]]
Versions = VersionStore | MutableMapping[bytes, bytes]
# Bulk events processed between two looks at realtime events: ~4 ms of work (its wall
# time, what a webhook waits for, is several times that on busy shared cores), where a
# look at an empty realtime consumer costs a few µs.
BULK_CHUNK = 20


def outcome(result: Result) -> str:
    """The sync-run outcome a processed event counts as."""
    if result.value is not None:  # set exactly when the verdict emits
        return "deleted" if result.op == "delete" else "changed"
    return "unchanged"


def add_count(counts: Counts, run_id: str, what: str, raw: RawEvent | None) -> None:
    """Count one event of `run_id` as `what`."""
    key = (run_id, what)
    seen = counts.get(key)
    if seen is None:
        counts[key] = (1, raw.source if raw else "", raw.org_id if raw else "")
    else:
        counts[key] = (seen[0] + 1, seen[1], seen[2])


class Handler:
    """Processes raw messages of one topic and queues what they produce on the outbox."""

    def __init__(self, config: StreamsConfig, *, processor: Processor, outbox: Outbox,
                 router: FailureRouter, metrics: Metrics) -> None:
        self.config = config
        self.processor = processor
        self.outbox = outbox
        self.router = router
        self.metrics = metrics
        stage = config.stage
        raw_topics = (config.realtime_topic, config.bulk_topic)
        self._in = {t: metrics.events_in.labels(t, stage) for t in raw_topics}
        self._out = metrics.events_out.labels(config.synced_topic)
        self._latency = metrics.processing_latency.labels(stage)

    async def raw(self, messages: Sequence[MessageLike], topic: str, counts: Counts,
                  versions: Callable[[int], Versions]) -> None:
        """Process `messages` (all read from `topic`); `versions(p)` is partition p's table."""
        processor, outbox = self.processor, self.outbox
        synced, latency = self.config.synced_topic, self._latency
        skipped: Counter[tuple[str, str]] = Counter()
        emitted = 0
        clock = time.perf_counter
        took: list[float] = []
        for message in messages:
            started = clock()
            partition = message.partition() or 0
            position = Position(topic, partition, message.offset() or 0)
            raw: RawEvent | None = None
            try:
                raw = processor.decode(message.value(), position)
                result = await processor.process(raw, message.headers(), position,
                                                 versions(partition))
            except Exception as exc:
                self.fail(message, position, exc, raw, counts)
            else:
                if result.value is not None:
                    outbox.send(synced, result.key, result.value, result.headers, partition)
                    emitted += 1
                else:
                    skipped[result.entity_type, result.verdict.value] += 1
                if result.sync_run_id and result.attempt == 0:
                    add_count(counts, result.sync_run_id, outcome(result), raw)
            took.append(clock() - started)
        observe_many(latency, took)
        self._in[topic].inc(len(messages))
        if emitted:
            self._out.inc(emitted)
        for (entity_type, reason), n in skipped.items():
            self.metrics.events_skipped.labels(entity_type, reason).inc(n)

    def fail(self, message: MessageLike, position: Position, error: Exception,
             raw: RawEvent | None, counts: Counts) -> None:
        """Send a failed message to its retry level or the dead letters."""
        failed = self.router.route(
            key=message.key(), value=message.value(), headers=message.headers(),
            topic=position.topic, partition=position.partition, offset=position.offset,
            timestamp_ms=message.timestamp()[1], error=error)
        where = {"topic": position.topic, "partition": position.partition,
                 "offset": position.offset}
        if failed.dead:
            logger.error("%s[%d]@%d → %s (%s): %s", position.topic, position.partition,
                         position.offset, failed.topic, failed.reason, error, extra=where)
            self.metrics.dead_letters.labels(self.config.stage, failed.reason).inc()
        else:
            logger.warning("%s[%d]@%d → %s: %r", position.topic, position.partition,
                           position.offset, failed.topic, error, extra=where)
            self.metrics.retries_scheduled.labels(self.config.stage, str(failed.attempt)).inc()
        self.outbox.send(failed.topic, failed.key, failed.value, failed.headers)
        if raw is not None and raw.sync_run_id and failed.attempt == 1:
            add_count(counts, raw.sync_run_id, "failed", raw)
