"""Rebuild read models from the log (`tds replay`) or prove they match it (`tds verify`).

1. Shadow tables (`<table>__rebuild`, same columns) are filled from the start of
   tds.entity.synced (or a time) up to the live projector's stored offsets, while live
   traffic continues: the log is collapsed in memory to the newest event of each record,
   which is COPYed straight in (`projections.bulk`); then the shadows get their primary
   keys, catch up with the live projector event by event, and get their indexes.
2. In one transaction: lock the live group's rows of `projection_offsets` (a live
   projector's next batch waits there), read its exact offsets, catch up to them, compare
   checksums of live and shadow tables (same offsets, so they must be equal), then, for
   a replay, swap: drop the live tables, rename the shadows and their indexes into place,
   recreate dependent views. The live projector resumes on the new tables.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

import asyncpg

from consumers.batching import responsive_loop
from consumers.errors import RowRejected
from consumers.postgres import is_driver_error, translate
from consumers.replay import LogReader, Progress
from projections.bulk import (
    JOB_SIZE,
    WORKERS,
    Collapser,
    Rows,
    Unresolvable,
    copy_rows,
    copy_winners,
    decoders,
    rows_of,
    warm,
)
from projections.catalog import BY_NAME
from projections.checksum import TableCheck, compare
from projections.errors import RebuildError, UnknownEntityError
from projections.model import ReadModel
from projections.projector import decode_entity
from projections.sql import q
from projections.writer import EntityWriter, Positioned
from schemas.codec import default_codec
from schemas.errors import CodecError
from tds.kafka import MessageLike

logger = logging.getLogger(__name__)

SUFFIX = "__rebuild"
_INDEX_SUFFIX = "__rb"


@dataclass(slots=True)
class RebuildReport:
    """What a rebuild did."""

    models: tuple[str, ...]
    events: int = 0
    rejected: int = 0
    seconds: float = 0.0
    offsets: dict[int, int] = field(default_factory=dict)
    comparable: bool = True
    checks: list[TableCheck] = field(default_factory=list)
    swapped: bool = False

    @property
    def identical(self) -> bool:
        """Every compared table matched (vacuously true when nothing was compared)."""
        return all(c.identical for c in self.checks)

    @property
    def rate(self) -> float:
        """Events per second of the whole rebuild."""
        return self.events / self.seconds if self.seconds else 0.0


class Rebuild:
    """One rebuild of `models` from `topic`, against the live consumer group `group`."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        bootstrap: str,
        topic: str,
        group: str,
        models: Sequence[ReadModel],
        batch_size: int = 5000,
        progress: TextIO | None = None,
    ) -> None:
        self._pool = pool
        self._topic = topic
        self._group = group
        self.models = tuple(models)
        self._tables = [t for m in self.models for t in m.tables]
        self._shadow = {t: f"{t}{SUFFIX}" for t in self._tables}
        self._writer = EntityWriter(self.models, names=self._shadow, audit_group=None)
        self._reader = LogReader(bootstrap=bootstrap, topic=topic, batch_size=batch_size)
        self._progress_stream = progress
        self._codec = default_codec()
        self._position: dict[int, int] = {}
        self._keys: dict[str, str] = {}  # primary keys the shadows do not have yet
        self.report = RebuildReport(models=tuple(m.name for m in self.models))

    async def run(self, *, since: datetime | None = None, swap: bool = True,
                  check: bool = True) -> RebuildReport:
        """Build, compare and (for a replay) swap; the shadows never outlive the call."""
        started = time.monotonic()
        try:
            await self._create_shadows()
            with responsive_loop():  # worker results are unpickled on a thread
                await self._load(since)
            await self._finish(swap=swap, check=check and since is None)
        finally:
            self._reader.close()
            if not self.report.swapped:
                await self._drop_shadows()
        self.report.seconds = time.monotonic() - started
        return self.report

    # -- shadow tables -------------------------------------------------------------

    async def _create_shadows(self) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            for table in self._tables:
                shadow = self._shadow[table]
                await conn.execute(f"DROP TABLE IF EXISTS {q(shadow)}")
                await conn.execute(
                    f"CREATE TABLE {q(shadow)} (LIKE {q(table)} INCLUDING DEFAULTS "
                    "INCLUDING CONSTRAINTS INCLUDING GENERATED)")
                key = await conn.fetchval(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = $1::regclass AND contype = 'p'", table)
                if key is None:
                    raise RebuildError(f"table {table} has no primary key")
                self._keys[table] = key

    async def _primary_keys(self, conn: asyncpg.Connection, tables: Sequence[str]) -> None:
        """Key the shadows (after the bulk load: one sort beats a b-tree insert per row;
        the event-by-event path needs them for ON CONFLICT)."""
        for table in tables:
            key = self._keys.pop(table, None)
            if key is not None:
                shadow = self._shadow[table]
                await conn.execute(f"ALTER TABLE {q(shadow)} ADD CONSTRAINT "
                                   f"{q(shadow + '_pkey')} {key}")

    async def _drop_shadows(self) -> None:
        async with self._pool.acquire() as conn:
            for shadow in self._shadow.values():
                await conn.execute(f"DROP TABLE IF EXISTS {q(shadow)}")

    async def _secondary_indexes(self, conn: asyncpg.Connection) -> None:
        """Index the shadows like the live tables (after the bulk load: faster)."""
        for table in self._tables:
            rows = await conn.fetch(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) AS def, i.indisunique "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = $1::regclass AND NOT i.indisprimary", table)
            for row in rows:
                _, _, tail = row["def"].partition(" USING ")
                unique = "UNIQUE " if row["indisunique"] else ""
                await conn.execute(
                    f"CREATE {unique}INDEX {q(row['relname'] + _INDEX_SUFFIX)} "
                    f"ON {q(self._shadow[table])} USING {tail}")

    # -- loading -------------------------------------------------------------------

    async def _live_offsets(self, conn: asyncpg.Connection, *, lock: bool) -> dict[int, int]:
        rows = await conn.fetch(
            "SELECT partition, next_offset FROM projection_offsets "
            "WHERE consumer_group = $1 AND topic = $2" + (" FOR UPDATE" if lock else ""),
            self._group, self._topic)
        return {r["partition"]: r["next_offset"] for r in rows}

    async def _load(self, since: datetime | None) -> None:
        marks = self._reader.watermarks()
        start = self._reader.offsets_at(since) if since else {p: lo for p, (lo, _) in marks.items()}
        async with self._pool.acquire() as conn:
            live = await self._live_offsets(conn, lock=False)
        # Up to the live projector's position where it has one, else to the end of the log.
        target = {p: live.get(p, hi) for p, (_, hi) in marks.items()}
        self._position = dict(start)
        total = sum(max(target[p] - start.get(p, 0), 0) for p in target)
        progress = Progress(f"replay {','.join(self.report.models)}", total,
                            stream=self._progress_stream)
        try:
            await self._bulk(target, progress)
        except Unresolvable as exc:
            logger.warning("%s", exc)
            self._position = dict(start)
            progress.done = 0
            async with self._pool.acquire() as conn:  # models already copied start over
                await conn.execute("TRUNCATE " + ", ".join(q(t) for t in self._shadow.values()))
                await self._primary_keys(conn, self._tables)
            await self._read(target, progress)
        async with self._pool.acquire() as conn:
            await self._primary_keys(conn, self._tables)
        for _ in range(5):  # catch up with live traffic before taking any lock
            async with self._pool.acquire() as conn:
                live = await self._live_offsets(conn, lock=False)
            gap = sum(max(live.get(p, 0) - self._position.get(p, 0), 0) for p in live)
            if gap <= 1000:
                break
            progress.total += gap
            await self._read(live, progress)
        progress.finish()
        async with self._pool.acquire() as conn:
            await self._secondary_indexes(conn)

    async def _bulk(self, until: dict[int, int], progress: Progress) -> None:
        """Collapse [position, until) to one event per record and COPY it into the empty
        shadows; raises Unresolvable when that cannot be exact (the caller starts over)."""
        ahead = {p: o for p, o in until.items() if o > self._position.get(p, 0)}
        if not ahead:
            return
        collapser = Collapser(self.models, topic=self._topic, codec=self._codec)
        loop = asyncio.get_running_loop()
        # Winners are decoded and turned into rows in worker processes (the decode is most
        # of a replay's Python time and one process has one GIL), started now so they are
        # up by the time the log is read; PostgreSQL COPYs each model as its rows come in.
        workers = decoders()
        try:
            warming = [loop.run_in_executor(workers, warm) for _ in range(WORKERS)] \
                if workers else []
            events = 0
            async for messages in self._reader.read(self._position, ahead):
                collapser.add(messages)
                events += len(messages)
                progress.add(len(messages))
            await asyncio.gather(*warming)
            # Worker processes rebuild a model by name from the catalogue, so a model
            # that is not the catalogue's own (tests) is decoded here instead.
            pooled = [m for m in self.models if workers and BY_NAME.get(m.name) is m]
            rows: dict[str, list[asyncio.Future[Rows | str]]] = {
                m.name: [loop.run_in_executor(workers, rows_of, job)
                         for job in collapser.jobs_of(m, JOB_SIZE)] for m in pooled}
            for model in self.models:
                if model.name in rows:
                    parts = [await f for f in rows[model.name]]
                    failed = [p for p in parts if isinstance(p, str)]
                    if failed:
                        raise Unresolvable(f"{failed[0]}; replaying event by event")
                    await self._copy(model, collapser,
                                     [p for p in parts if not isinstance(p, str)])
                else:
                    await self._copy(model, collapser, None)
        finally:
            if workers is not None:
                workers.shutdown(wait=False, cancel_futures=True)
        collapser.forget()
        self.report.events += events
        self.report.rejected += collapser.rejected
        for partition, offset in ahead.items():
            self._position[partition] = max(self._position.get(partition, 0), offset)

    async def _copy(self, model: ReadModel, collapser: Collapser,
                    parts: list[Rows] | None) -> None:
        """COPY one model's winners (as `parts` built elsewhere, or decoded here)."""
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    if parts is None:
                        winners = await asyncio.to_thread(collapser.winners_of, model)
                        await copy_winners(conn, model, winners, self._shadow)
                    else:
                        await copy_rows(conn, model, parts, self._shadow)
                return
            except Exception as exc:
                error = translate(exc) if is_driver_error(exc) else exc
                if not isinstance(error, RowRejected):
                    raise error from exc
                logger.warning("replay: COPY into %s refused (%s); writing its records "
                               "one by one", model.table, error)
            # The COPY rolled back: the same winners through the staging path, which
            # skips only the rows PostgreSQL refuses (and needs the keys for ON CONFLICT).
            winners = await asyncio.to_thread(collapser.winners_of, model)
            await self._primary_keys(conn, model.tables)
            writer = EntityWriter([model], names=self._shadow, audit_group=None)
            await writer.prepare(conn)
            await self._apply_events(conn, winners, writer)

    async def _read(self, until: dict[int, int], progress: Progress | None,
                    conn: asyncpg.Connection | None = None) -> None:
        ahead = {p: o for p, o in until.items() if o > self._position.get(p, 0)}
        if not ahead:
            return
        async for messages in self._reader.read(self._position, ahead):
            if conn is None:
                async with self._pool.acquire() as own:
                    await self._writer.prepare(own)
                    async with own.transaction():
                        await self._apply(own, messages)
            else:
                await self._apply(conn, messages)
            for message in messages:
                partition, offset = message.partition(), message.offset()
                if partition is not None and offset is not None:
                    self._position[partition] = max(self._position.get(partition, 0),
                                                    offset + 1)
            if progress is not None:
                progress.add(len(messages))
        for partition, offset in ahead.items():  # markers or compaction may end a range early
            self._position[partition] = max(self._position.get(partition, 0), offset)

    async def _apply(self, conn: asyncpg.Connection, messages: Sequence[MessageLike]) -> None:
        events: list[Positioned] = []
        for message in messages:
            value = message.value()
            topic, partition, offset = self._topic, message.partition() or 0, \
                message.offset() or 0
            if value is None:
                continue
            try:
                event = decode_entity(value, self._codec, topic=topic, partition=partition,
                                      offset=offset)
            except (CodecError, UnknownEntityError) as exc:
                self.report.rejected += 1
                logger.warning("replay skips %s[%d]@%d: %s", topic, partition, offset, exc)
                continue
            events.append(Positioned(event, topic, partition, offset))
        self.report.events += len(messages)
        await self._apply_events(conn, events, self._writer)

    async def _apply_events(self, conn: asyncpg.Connection, events: list[Positioned],
                            writer: EntityWriter) -> None:
        try:
            async with conn.transaction():
                await writer.apply(conn, events)
        except Exception as exc:
            error = translate(exc) if is_driver_error(exc) else exc
            if not isinstance(error, RowRejected):
                raise error from exc
            for item in events:  # one at a time, to skip only the rows PostgreSQL refuses
                try:
                    async with conn.transaction():
                        await writer.apply(conn, [item])
                except Exception as one:
                    if not isinstance(translate(one) if is_driver_error(one) else one,
                                      RowRejected):
                        raise
                    self.report.rejected += 1
                    logger.warning("replay skips %s[%d]@%d: %s", item.topic,
                                   item.partition, item.offset, one)

    # -- compare and swap ----------------------------------------------------------

    async def _finish(self, *, swap: bool, check: bool) -> None:
        async with self._pool.acquire() as conn:
            await self._writer.prepare(conn)
            async with conn.transaction():
                await self._finish_locked(conn, swap=swap, check=check)

    async def _finish_locked(self, conn: asyncpg.Connection, *, swap: bool,
                             check: bool) -> None:
        live = await self._live_offsets(conn, lock=True)
        await self._read(live, None, conn)
        self.report.offsets = dict(self._position)
        self.report.comparable = all(
            live.get(p, 0) == o for p, o in self._position.items()) and bool(live)
        if check:
            if not self.report.comparable:
                logger.warning("live projector %s is not at the rebuilt offsets %s (it is "
                               "at %s): tables not compared", self._group,
                               self._position, live)
            else:
                self.report.checks += await compare(
                    conn, self._pool, [(t, self._shadow[t]) for t in self._tables])
        if swap:
            await self._advance_live(conn, live)
            await self._swap(conn)
            self.report.swapped = True

    async def _advance_live(self, conn: asyncpg.Connection, live: dict[int, int]) -> None:
        """Where the rebuild read further than the live projector, move the live group on:
        its next batch is fenced and re-reads the offsets."""
        ahead = {p: o for p, o in self._position.items() if o > live.get(p, 0)}
        if ahead:
            await conn.execute(
                "INSERT INTO projection_offsets (consumer_group, topic, partition, next_offset) "
                "SELECT $1, $2, * FROM unnest($3::integer[], $4::bigint[]) "
                "ON CONFLICT (consumer_group, topic, partition) DO UPDATE "
                "SET next_offset = EXCLUDED.next_offset, updated_at = now()",
                self._group, self._topic, list(ahead), list(ahead.values()))

    async def _swap(self, conn: asyncpg.Connection) -> None:
        views = await conn.fetch(
            "SELECT DISTINCT v.oid, v.relname, pg_get_viewdef(v.oid) AS def "
            "FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
            "JOIN pg_class v ON v.oid = r.ev_class "
            "WHERE d.refobjid = ANY($1::regclass[]) AND v.relkind = 'v' "
            "AND d.refobjid <> v.oid", self._tables)
        await conn.execute(f"LOCK TABLE {', '.join(q(t) for t in self._tables)} "
                           "IN ACCESS EXCLUSIVE MODE")
        for view in views:
            await conn.execute(f"DROP VIEW {q(view['relname'])}")
        for table in self._tables:
            shadow = self._shadow[table]
            indexes = await conn.fetch(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = $1::regclass AND NOT i.indisprimary", table)
            key = await conn.fetchval(
                "SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass "
                "AND contype = 'p'", table)
            await conn.execute(f"DROP TABLE {q(table)}")
            await conn.execute(f"ALTER TABLE {q(shadow)} RENAME TO {q(table)}")
            await conn.execute(f"ALTER TABLE {q(table)} RENAME CONSTRAINT "
                               f"{q(shadow + '_pkey')} TO {q(key)}")
            for index in indexes:
                name = index["relname"]
                await conn.execute(f"ALTER INDEX {q(name + _INDEX_SUFFIX)} RENAME TO {q(name)}")
        for view in views:
            await conn.execute(f"CREATE VIEW {q(view['relname'])} AS {view['def']}")
