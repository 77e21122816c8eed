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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import asyncpg

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


async def copy_winners(conn: asyncpg.Connection, model: ReadModel,
                       winners: Sequence[Positioned], names: Mapping[str, str]) -> int:
    """COPY one model's winners into its (empty) tables named through `names`."""
    upserts = [p.event for p in winners if p.event.op != "delete"]
    deletes = [p.event for p in winners if p.event.op == "delete"]
    if upserts:
        await conn.copy_records_to_table(
            names[model.table], records=[model.row(e) for e in upserts],
            columns=list(model.column_names))
        for child in model.children:
            rows = [r for e in upserts for r in model.child_rows(child, e)]
            if rows:
                await conn.copy_records_to_table(
                    names[child.table], records=rows,
                    columns=[c for c, _ in child_columns(model, child)])
    if deletes:
        await conn.copy_records_to_table(
            names[model.tombstones],
            records=[(e.org_id, e.entity_id, e.version_modified_at, e.version_offset,
                      e.event_id, e.synced_at) for e in deletes],
            columns=["org_id", model.id_column, "version_modified_at", "version_offset",
                     "event_id", "deleted_at"])
    return len(winners)
