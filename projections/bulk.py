"""The first pass of a replay: the log collapsed to its newest event per record, COPYed
straight into empty tables.

Applying a stream event by event (stage, upsert when newer) ends with, for each record of
each model, the state of its greatest-version accepted event: an upsert leaves the row
and its children, a delete leaves only the tombstone. So a replay into empty tables only
needs that one event per record: `Collapser` reads the identity and version of every
event from the opening bytes of its value (`schemas.fast_synced`), keeps the greatest
per record, and decodes in full only the winners; `copy_winners` then writes them with
one binary COPY per table, with no staging, conflict checks or audit.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg

from projections.catalog import BY_NAME
from projections.errors import RebuildError, UnknownEntityError
from projections.model import ReadModel
from projections.projector import decode_entity
from projections.sql import child_columns
from projections.writer import Positioned
from schemas.codec import Codec, default_codec
from schemas.errors import CodecError
from schemas.events import ENTITY_TYPES, EntitySynced
from schemas.fast_synced import Prefix, PrefixReader

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
Key = tuple[str, str]  # org id, entity id
Located = tuple[int, int, bytes]  # partition, offset, value
WORKERS = min(os.cpu_count() or 1, 4)
JOB_SIZE = 2000  # winners per worker call: small enough to spread, big enough to amortise


class Logged(Protocol):
    """The part of a Kafka message the collapser reads (tds.kafka.MessageLike)."""

    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def value(self) -> bytes | None: ...


class Unresolvable(RebuildError):
    """A record's newest event cannot be decoded: only the event-by-event path knows
    which older event then counts, so the caller falls back to it."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One event kept for later: its version and where its bytes came from."""

    version: tuple[int, int, str]
    partition: int
    offset: int
    value: bytes


def _prefix_of(event: EntitySynced) -> Prefix:
    micros = (event.version_modified_at - _EPOCH) // _MICROSECOND
    return Prefix(event.event_id, event.op, event.org_id, event.entity_type, event.entity_id,
                  micros, event.version_offset)


class Collapser:
    """Keeps the greatest-version event of each record of `models` seen in `add`."""

    def __init__(self, models: Sequence[ReadModel], *, topic: str,
                 codec: Codec | None = None) -> None:
        self.models = tuple(models)
        self.topic = topic
        self.rejected = 0
        self._codec = codec or default_codec()
        self._prefixes = PrefixReader()
        self._by_type: dict[str, list[ReadModel]] = {}
        for model in self.models:
            for entity_type in model.entity_types:
                self._by_type.setdefault(entity_type, []).append(model)
        self._best: dict[str, dict[Key, Candidate]] = {m.name: {} for m in self.models}
        # A selective model (stock takes only the item upserts that carry stock) keeps
        # every candidate: which one wins is known only once records are decoded.
        self._all: dict[str, dict[Key, list[Candidate]]] = {m.name: {} for m in self.models}
        self._decoded: dict[tuple[int, int], EntitySynced] = {}

    def _prefix(self, value: bytes, partition: int, offset: int) -> Prefix:
        prefix = self._prefixes.read(value)
        if prefix is None:  # a schema version this reader does not know: decode it all
            return _prefix_of(decode_entity(value, self._codec, topic=self.topic,
                                            partition=partition, offset=offset))
        if prefix.entity_type not in ENTITY_TYPES or prefix.op not in ("upsert", "delete"):
            raise UnknownEntityError(f"unknown entity type {prefix.entity_type!r} or op "
                                     f"{prefix.op!r} at {self.topic}[{partition}]@{offset}")
        return prefix

    def add(self, messages: Iterable[Logged]) -> None:
        """Take the events of `messages` into account (any order)."""
        best, every = self._best, self._all
        for message in messages:
            value = message.value()
            if value is None:
                continue  # a compaction tombstone
            partition, offset = message.partition() or 0, message.offset() or 0
            try:
                prefix = self._prefix(value, partition, offset)
            except (CodecError, UnknownEntityError) as exc:
                self.rejected += 1
                logger.warning("replay skips %s[%d]@%d: %s", self.topic, partition, offset,
                               exc)
                continue
            candidate = Candidate(prefix.version, partition, offset, value)
            key = (prefix.org_id, prefix.entity_id)
            for model in self._by_type.get(prefix.entity_type, ()):
                if model.selective:
                    every[model.name].setdefault(key, []).append(candidate)
                    continue
                kept = best[model.name]
                current = kept.get(key)
                if current is None or candidate.version > current.version:
                    kept[key] = candidate

    def _event(self, candidate: Candidate) -> EntitySynced:
        """The decoded event (once: an item event may win for items and for stock)."""
        where = (candidate.partition, candidate.offset)
        event = self._decoded.get(where)
        if event is not None:
            return event
        try:
            event = decode_entity(candidate.value, self._codec, topic=self.topic,
                                  partition=candidate.partition, offset=candidate.offset)
        except (CodecError, UnknownEntityError) as exc:
            raise Unresolvable(f"the newest event of a record does not decode ({exc}); "
                               "replaying event by event") from exc
        self._decoded[where] = event
        return event

    def jobs_of(self, model: ReadModel, size: int) -> list[Job]:
        """`model`'s winners as chunks of raw values for `rows_of` in another process:
        each entry lists a record's candidates newest first (only a selective model has
        more than one: the first it accepts wins)."""
        entries: list[list[Located]] = [
            [(c.partition, c.offset, c.value)] for c in self._best[model.name].values()]
        for candidates in self._all[model.name].values():
            ranked = sorted(enumerate(candidates), key=lambda ic: (ic[1].version, -ic[0]),
                            reverse=True)
            entries.append([(c.partition, c.offset, c.value) for _, c in ranked])
        return [Job(model.name, self.topic, entries[i:i + size])
                for i in range(0, len(entries), size)]

    def winners_of(self, model: ReadModel) -> list[Positioned]:
        """The decoded winning event of each record of `model`."""
        out = [Positioned(self._event(c), self.topic, c.partition, c.offset)
               for c in self._best[model.name].values()]
        for candidates in self._all[model.name].values():
            # Newest first; ties (the same version read twice) keep the first read, as
            # the event-by-event path does.
            ranked = sorted(enumerate(candidates), key=lambda ic: (ic[1].version, -ic[0]),
                            reverse=True)
            for _, candidate in ranked:
                event = self._event(candidate)
                if model.accepts(event):
                    out.append(Positioned(event, self.topic, candidate.partition,
                                          candidate.offset))
                    break
        return out

    def winners(self) -> dict[str, list[Positioned]]:
        """`winners_of` every model, by model name."""
        return {m.name: self.winners_of(m) for m in self.models}

    def forget(self) -> None:
        """Drop the decoded events (the caller has written them)."""
        self._decoded.clear()


@dataclass(frozen=True, slots=True)
class Rows:
    """One model's rows ready to COPY: main rows, each child table's rows, tombstones."""

    main: list[tuple[Any, ...]]
    children: tuple[list[tuple[Any, ...]], ...]
    tombstones: list[tuple[Any, ...]]

    @classmethod
    def of(cls, model: ReadModel, events: Iterable[EntitySynced]) -> Rows:
        """The rows `events` (one per record) leave in empty tables."""
        main: list[tuple[Any, ...]] = []
        tombstones: list[tuple[Any, ...]] = []
        upserts = []
        for e in events:
            if e.op == "delete":
                tombstones.append((e.org_id, e.entity_id, e.version_modified_at,
                                   e.version_offset, e.event_id, e.synced_at))
            else:
                upserts.append(e)
                main.append(model.row(e))
        children = tuple([r for e in upserts for r in model.child_rows(child, e)]
                         for child in model.children)
        return cls(main, children, tombstones)


@dataclass(frozen=True, slots=True)
class Job:
    """Winners of one model to decode elsewhere (see `Collapser.jobs_of`)."""

    model: str
    topic: str
    entries: list[list[Located]]


def decoders() -> ProcessPoolExecutor | None:
    """Processes for the winners' decode (None on a one-core machine: no gain)."""
    if WORKERS < 2:
        return None
    # spawn, not fork: the parent runs threads (Kafka client, executors).
    return ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn"))


def warm() -> None:
    """Load the codec in a worker before the first job needs it."""
    default_codec()


def rows_of(job: Job) -> Rows | str:
    """Decode a job's winners and build their rows (runs in a worker process: the
    catalogue's model of that name); a message instead when a winner does not decode."""
    model = BY_NAME[job.model]
    codec = default_codec()
    events = []
    for entry in job.entries:
        for partition, offset, value in entry:
            try:
                event = decode_entity(value, codec, topic=job.topic, partition=partition,
                                      offset=offset)
            except (CodecError, UnknownEntityError) as exc:
                return f"the newest event of a record does not decode ({exc})"
            if model.accepts(event):
                events.append(event)
                break
    return Rows.of(model, events)


async def copy_rows(conn: asyncpg.Connection, model: ReadModel, parts: Sequence[Rows],
                    names: Mapping[str, str]) -> None:
    """COPY one model's rows into its (empty) tables named through `names`."""
    for part in parts:
        if part.main:
            await conn.copy_records_to_table(names[model.table], records=part.main,
                                             columns=list(model.column_names))
        for child, rows in zip(model.children, part.children, strict=True):
            if rows:
                await conn.copy_records_to_table(
                    names[child.table], records=rows,
                    columns=[c for c, _ in child_columns(model, child)])
        if part.tombstones:
            await conn.copy_records_to_table(
                names[model.tombstones], records=part.tombstones,
                columns=["org_id", model.id_column, "version_modified_at", "version_offset",
                         "event_id", "deleted_at"])


async def copy_winners(conn: asyncpg.Connection, model: ReadModel,
                       winners: Sequence[Positioned], names: Mapping[str, str]) -> int:
    """COPY one model's winners into its (empty) tables named through `names`."""
    await copy_rows(conn, model, [Rows.of(model, (p.event for p in winners))], names)
    return len(winners)
