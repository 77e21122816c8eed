"""The projector: `tds.entity.synced`, `tds.sync.runs` and `tds.deadletter` into the read
models, with exactly-once effect.

Each batch is one PostgreSQL transaction: claim the batch's offsets (compare-and-set in
`projection_offsets`), write every read model in bulk, commit. A crash at any instant
either keeps all of it or none of it, and the restarted process resumes from the stored
offsets. A message that cannot be decoded or written goes through the retry chain
before the transaction commits, so its partition never stops; when PostgreSQL refuses a
batch, it is written again one message at a time (savepoints) to find the culprits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from confluent_kafka import Producer

from consumers.batching import Batch, BatchingConsumer
from consumers.errors import RowRejected, StoreSchemaError, StoreUnavailable
from consumers.failures import FailureRouter, RoutingUnavailable
from consumers.offsets import PgOffsetStore, claim
from consumers.postgres import is_driver_error, translate
from projections import dead_letters, sync_runs
from projections.catalog import MODELS
from projections.errors import UnknownEntityError
from projections.model import ReadModel
from projections.writer import EntityWriter, Outcome, Positioned
from schemas.codec import Codec, default_codec
from schemas.errors import CodecError
from schemas.events import ENTITY_TYPES, EntitySynced, SyncRunEvent, decode_event
from schemas.topics import DEADLETTER, ENTITY_SYNCED, SYNC_RUNS
from tds.kafka import MessageLike, producer_config
from tds.metrics import Metrics
from tds.retry import RetryPolicy

logger = logging.getLogger(__name__)

STAGE = "projector"
DEFAULT_GROUP = "tds-projector"


@dataclass(frozen=True, slots=True)
class ProjectorTopics:
    """The topics the projector reads (tests pass unique names)."""

    entity: str = ENTITY_SYNCED
    sync_runs: str = SYNC_RUNS
    deadletter: str = DEADLETTER

    def names(self) -> list[str]:
        """Every topic, for the subscription (empty names are left out)."""
        return [t for t in (self.entity, self.sync_runs, self.deadletter) if t]


# What `Projector.prepare` made of one message: ("entity" | "run" | "dead" | "failed" |
# "none", the decoded value, dead-letter row or error).
Prepared = tuple[str, Any]


@dataclass(slots=True)
class Decoded:
    """A batch sorted by what it feeds, with the messages that failed to decode."""

    entities: list[tuple[MessageLike, Positioned]] = field(default_factory=list)
    runs: list[tuple[MessageLike, SyncRunEvent]] = field(default_factory=list)
    dead: list[tuple[MessageLike, tuple[Any, ...]]] = field(default_factory=list)
    failed: list[tuple[MessageLike, BaseException]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def decode_entity(value: bytes, codec: Codec, *, topic: str, partition: int,
                  offset: int) -> EntitySynced:
    """Decode and check one `tds.entity.synced` value."""
    family, fields = codec.decode(value, topic=topic, partition=partition, offset=offset)
    if family != "entity_synced":
        raise CodecError(f"expected an entity_synced value, got {family}",
                         topic=topic, partition=partition, offset=offset)
    try:
        event = EntitySynced(**fields)  # the fast path while the dataclass mirrors the schema
    except TypeError:
        event = EntitySynced.from_avro(fields)
    if event.entity_type not in ENTITY_TYPES:
        raise UnknownEntityError(f"unknown entity type {event.entity_type!r} at "
                                 f"{topic}[{partition}]@{offset}")
    if event.op not in ("upsert", "delete") or (event.op == "upsert" and event.record is None):
        raise UnknownEntityError(f"op {event.op!r} without a record at "
                                 f"{topic}[{partition}]@{offset}")
    return event


class Projector:
    """The batch handler: decode, write models and offsets in one transaction."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        group: str,
        topics: ProjectorTopics,
        router: FailureRouter,
        metrics: Metrics,
        models: Sequence[ReadModel] = MODELS,
        codec: Codec | None = None,
    ) -> None:
        self._pool = pool
        self.group = group
        self.topics = topics
        self._router = router
        self._metrics = metrics
        self._codec = codec or default_codec()
        self.writer = EntityWriter(models, audit_group=group)
        # Events re-applied after an operator's reset were audited when first applied.
        self.repairer = EntityWriter(models, repair=True)
        self.totals = Outcome()

    def decode(self, messages: Sequence[MessageLike],
               prepared: Sequence[Prepared] | None = None) -> Decoded:
        """Sort a batch by destination; undecodable messages are collected, not raised."""
        out = Decoded()
        if prepared is None:
            prepared = self.prepare(messages)
        for message, (kind, item) in zip(messages, prepared, strict=True):
            out.counts[message.topic() or ""] += 1
            if kind == "entity":
                out.entities.append((message, item))
            elif kind == "run":
                out.runs.append((message, item))
            elif kind == "dead":
                out.dead.append((message, item))
            elif kind == "failed":
                out.failed.append((message, item))
        return out

    def prepare(self, messages: Sequence[MessageLike]) -> list[Prepared]:
        """Decode each message (no I/O: the consumer runs this for the next batch while
        the current one is written)."""
        return [self._decode_one(m) for m in messages]

    def _decode_one(self, message: MessageLike) -> Prepared:
        topic, partition, offset = message.topic() or "", message.partition() or 0, \
            message.offset() or 0
        value = message.value()
        try:
            if topic == self.topics.deadletter:
                return "dead", dead_letters.row(
                    topic=topic, partition=partition, offset=offset,
                    timestamp_ms=message.timestamp()[1], key=message.key(), value=value,
                    headers=message.headers())
            if value is None:
                return "none", None  # a compaction tombstone: nothing to project
            if topic == self.topics.entity:
                event = decode_entity(value, self._codec, topic=topic,
                                      partition=partition, offset=offset)
                return "entity", Positioned(event, topic, partition, offset)
            if topic == self.topics.sync_runs:
                run = decode_event(value, codec=self._codec, topic=topic,
                                   partition=partition, offset=offset)
                if not isinstance(run, SyncRunEvent):
                    raise CodecError(f"expected a sync_run value, got {type(run).__name__}",
                                     topic=topic, partition=partition, offset=offset)
                return "run", run
        except (CodecError, UnknownEntityError, ValueError, TypeError) as exc:
            return "failed", exc
        return "none", None

    async def handle(self, batch: Batch) -> None:
        """Project one batch; raises Fenced / StoreUnavailable for the loop to handle."""
        started = time.perf_counter()
        decoded = self.decode(batch.messages, batch.prepared)
        try:
            outcome = await self._transaction(batch, decoded, careful=False)
        except RowRejected as exc:
            logger.warning("batch of %d refused (%s); writing it one message at a time",
                           len(batch.messages), exc)
            outcome = await self._transaction(batch, decoded, careful=True)
        self.totals.add(outcome)
        metrics = self._metrics
        for topic, count in decoded.counts.items():
            metrics.events_in.labels(topic, STAGE).inc(count)
        for entity_type, count in outcome.skipped.items():
            metrics.events_skipped.labels(entity_type, "stale").inc(count)
        metrics.projector_batch_size.observe(len(batch.messages))
        metrics.projector_batch_latency.observe(time.perf_counter() - started)

    async def _transaction(self, batch: Batch, decoded: Decoded, *, careful: bool) -> Outcome:
        failed = list(decoded.failed)
        try:
            async with self._pool.acquire() as conn:
                await self.writer.prepare(conn)
                async with conn.transaction():
                    await claim(conn, self.group, batch.claims)
                    if careful:
                        outcome = await self._write_each(conn, batch, decoded, failed)
                    else:
                        outcome = await self._write_all(conn, batch, decoded)
                    for message, error in failed:
                        if message.topic() == self.topics.deadletter:
                            logger.error("dead letter %s[%s]@%s not projected: %s",
                                         message.topic(), message.partition(),
                                         message.offset(), error)
                            continue  # never route the dead letters into themselves
                        self._router.route(message, error)
                    await asyncio.to_thread(self._router.flush)
        except (RoutingUnavailable, RowRejected, StoreUnavailable, StoreSchemaError):
            raise
        except Exception as exc:
            if is_driver_error(exc):
                raise translate(exc) from exc
            raise
        return outcome

    def _writer(self, batch: Batch, item: Positioned) -> EntityWriter:
        """The repairing writer for a range re-read after a reset, else the auditing one."""
        replayed = bool(batch.replays) and batch.replayed(item.topic, item.partition,
                                                          item.offset)
        return self.repairer if replayed else self.writer

    async def _write_all(self, conn: asyncpg.Connection, batch: Batch,
                         decoded: Decoded) -> Outcome:
        outcome = Outcome()
        # Replayed events come first in each partition's log order, so they go first.
        for writer in (self.repairer, self.writer):
            mine = [p for _, p in decoded.entities if self._writer(batch, p) is writer]
            if mine:
                outcome.add(await writer.apply(conn, mine))
        if decoded.runs:
            await sync_runs.apply(conn, [r for _, r in decoded.runs])
        if decoded.dead:
            await dead_letters.apply(conn, [r for _, r in decoded.dead])
        return outcome

    async def _write_each(
        self, conn: asyncpg.Connection, batch: Batch, decoded: Decoded,
        failed: list[tuple[MessageLike, BaseException]],
    ) -> Outcome:
        outcome = Outcome()
        jobs: list[tuple[MessageLike, Any]] = []
        jobs += [(m, ("entity", p)) for m, p in decoded.entities]
        jobs += [(m, ("run", r)) for m, r in decoded.runs]
        jobs += [(m, ("dead", r)) for m, r in decoded.dead]
        for message, (kind, item) in jobs:
            try:
                async with conn.transaction():  # a savepoint: one message's writes
                    if kind == "entity":
                        outcome.add(await self._writer(batch, item).apply(conn, [item]))
                    elif kind == "run":
                        await sync_runs.apply(conn, [item])
                    else:
                        await dead_letters.apply(conn, [item])
            except Exception as exc:
                error = translate(exc) if is_driver_error(exc) else exc
                if not isinstance(error, RowRejected):
                    raise error from exc
                failed.append((message, error))
        return outcome


async def run(
    *,
    pool: asyncpg.Pool,
    bootstrap: str,
    group: str,
    topics: ProjectorTopics,
    policy: RetryPolicy,
    metrics: Metrics,
    stop: asyncio.Event,
    batch_size: int = 100,
    max_batch_size: int | None = None,
    max_wait_s: float = 0.01,
    topic_for: Any = None,
    consumer_config: dict[str, Any] | None = None,
) -> Projector:
    """Run a projector group member until `stop` is set; returns it for its totals."""
    producer = Producer(producer_config(bootstrap, **{"client.id": f"tds-{group}"}))
    router = FailureRouter(producer=producer, policy=policy, group=group, stage=STAGE,
                           metrics=metrics, **({"topic_for": topic_for} if topic_for else {}))
    projector = Projector(pool=pool, group=group, topics=topics, router=router,
                          metrics=metrics)
    consumer = BatchingConsumer(
        bootstrap=bootstrap, group=group, topics=topics.names(),
        store=PgOffsetStore(pool, group), handler=projector.handle, batch_size=batch_size,
        max_batch_size=max_batch_size, max_wait_s=max_wait_s, config=consumer_config,
        prepare=projector.prepare, metrics=metrics)
    try:
        await consumer.run(stop)
    finally:
        await asyncio.to_thread(producer.flush, 10)
    return projector
