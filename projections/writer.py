"""Write a batch of `EntitySynced` events into the read models, in the caller's transaction.

Per model: keep the newest event of each record in the batch, then one bulk statement for
the upserts (plus one per child table) and one for the deletes. Stale and duplicate events
are not errors: they change nothing and are counted as skipped.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from projections.catalog import MODELS
from projections.model import ReadModel, version
from projections.sql import ModelStatements, statements
from schemas.events import EntitySynced

_TRUNCATE_EVERY = 64
_LOCK = "SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS t(k)"


def lock_key(table: str, org_id: str, entity_id: str) -> int:
    """A stable 64-bit advisory-lock key for one record of one table."""
    digest = hashlib.blake2b(f"{table}:{org_id}:{entity_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True, slots=True)
class Positioned:
    """An event with the log position it was read from."""

    event: EntitySynced
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class ModelPlan:
    """One model's share of a batch: its records' newest events as staged rows, the
    advisory locks to take first, and each child table's rows by record key."""

    model: ReadModel
    locks: list[int]
    rows: list[tuple[Any, ...]]
    upserts: list[Positioned]
    deletes: list[Positioned]
    children: tuple[dict[tuple[str, str], list[tuple[Any, ...]]], ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """What `EntityWriter.execute` writes for a batch; `fed` are the events some model
    takes (those not applied count as skipped)."""

    models: tuple[ModelPlan, ...]
    fed: tuple[Positioned, ...]


@dataclass(slots=True)
class Outcome:
    """What a batch did: changes per table and skipped events per entity type."""

    changed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, other: Outcome) -> None:
        """Fold another outcome into this one."""
        self.changed.update(other.changed)
        self.skipped.update(other.skipped)


class EntityWriter:
    """Applies events to a set of read models; `names` redirects tables (replay);
    `repair` rewrites rows from events of their own version too (sql.statements)."""

    def __init__(
        self,
        models: Sequence[ReadModel] = MODELS,
        *,
        names: Mapping[str, str] | None = None,
        audit_group: str | None = None,
        repair: bool = False,
    ) -> None:
        self.models = tuple(models)
        self._audit_group = audit_group
        self._names = dict(names or {})
        self._sql: dict[str, ModelStatements] = {
            m.name: statements(m, names=names, audit=audit_group is not None, repair=repair)
            for m in self.models
        }
        self._staged: dict[object, int] = {}
        self._by_type: dict[str, list[ReadModel]] = {}
        for model in self.models:
            for entity_type in model.entity_types:
                self._by_type.setdefault(entity_type, []).append(model)

    def feeds(self, event: EntitySynced) -> bool:
        """Whether any of this writer's models takes `event`."""
        return any(m.accepts(event) for m in self._by_type.get(event.entity_type, ()))

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Positioned]) -> Outcome:
        """Write `events` (any order, duplicates allowed) through `conn`."""
        return await self.execute(conn, self.plan(events))

    def plan(self, events: Sequence[Positioned]) -> Plan:
        """Pick each record's newest event per model and build its rows (no I/O, so a
        caller may build the next batch's plan while PostgreSQL writes this one)."""
        per_model: dict[str, dict[tuple[str, str], Positioned]] = {}
        fed: list[Positioned] = []
        for item in events:
            event = item.event
            feeds = False
            for model in self._by_type.get(event.entity_type, ()):
                if not model.accepts(event):
                    continue
                feeds = True
                winners = per_model.setdefault(model.name, {})
                key = (event.org_id, event.entity_id)
                current = winners.get(key)
                if current is None or version(event) > version(current.event):
                    winners[key] = item
            if feeds:
                fed.append(item)
        models = []
        for model in self.models:
            found = per_model.get(model.name)
            if found:
                models.append(self._model_plan(model, list(found.values())))
        return Plan(tuple(models), tuple(fed))

    def _model_plan(self, model: ReadModel, winners: list[Positioned]) -> ModelPlan:
        locks: list[int] = []
        if len(model.entity_types) > 1:
            # One record arrives under several Kafka keys (an item's `item` and `stock`
            # events), so two projector processes may hold it at once: lock the batch's
            # records in a fixed order first, so they queue instead of deadlocking, and the
            # statements see the other's committed rows.
            table = self._names.get(model.table, model.table)
            locks = sorted({lock_key(table, p.event.org_id, p.event.entity_id)
                            for p in winners})
        rows = []
        upserts, deletes = [], []
        for p in winners:
            event = p.event
            if event.op == "delete":
                deletes.append(p)
                op = "delete"
            else:
                upserts.append(p)
                op = "upsert"
            rows.append((*model.row(event), event.entity_type, p.topic, p.partition, p.offset,
                         op))
        children = tuple({(p.event.org_id, p.event.entity_id): model.child_rows(child, p.event)
                          for p in upserts} for child in model.children)
        return ModelPlan(model, locks, rows, upserts, deletes, children)

    async def execute(self, conn: asyncpg.Connection, plan: Plan) -> Outcome:
        """Write a plan through `conn` (in the caller's transaction)."""
        outcome = Outcome()
        applied: set[int] = set()
        if plan.models:
            await self._stage(conn)
        for part in plan.models:
            done = await self._write(conn, part)
            outcome.changed[part.model.table] += len(done)
            applied.update(id(p) for p in done)
        for item in plan.fed:
            if id(item) not in applied:
                outcome.skipped[item.event.entity_type] += 1
        return outcome

    async def prepare(self, conn: asyncpg.Connection) -> None:
        """Create this session's staging tables; call outside a transaction, as a rolled
        back transaction would take them with it."""
        session = conn.get_settings()  # one object per server connection, behind any proxy
        if session in self._staged:
            return
        await conn.execute("; ".join(ddl for s in self._sql.values() for ddl in s.stage))
        if not conn.is_in_transaction():
            self._staged[session] = 0

    async def _stage(self, conn: asyncpg.Connection) -> None:
        """Make sure the staging tables exist; empty them every `_TRUNCATE_EVERY` uses, as
        consumed rows stay behind as dead tuples (autovacuum skips temp tables)."""
        session = conn.get_settings()
        uses = self._staged.get(session)
        if uses is None:
            await self.prepare(conn)
            uses = self._staged.get(session, 0)
        elif uses and uses % _TRUNCATE_EVERY == 0:
            await conn.execute("; ".join(s.truncate for s in self._sql.values()))
        if session in self._staged:
            self._staged[session] = uses + 1

    async def _write(self, conn: asyncpg.Connection, part: ModelPlan) -> list[Positioned]:
        model = part.model
        sql = self._sql[model.name]
        if part.locks:
            await conn.execute(_LOCK, part.locks)
        await conn.copy_records_to_table(sql.stage_table, records=part.rows,
                                         columns=sql.stage_columns)
        audit: tuple[Any, ...] = () if self._audit_group is None else (self._audit_group,)
        done: list[Positioned] = []
        if part.upserts:
            keys = {(r[0], r[1]) for r in await conn.fetch(sql.upsert, *audit)}
            won = [p for p in part.upserts if (p.event.org_id, p.event.entity_id) in keys]
            done += won
            for by_key, stage, insert in zip(part.children, sql.child_stages, sql.children,
                                             strict=True):
                child_rows = [r for p in won
                              for r in by_key[(p.event.org_id, p.event.entity_id)]]
                if child_rows:
                    await conn.copy_records_to_table(stage, records=child_rows)
                    await conn.execute(insert)
        if part.deletes:
            keys = {(r[0], r[1]) for r in await conn.fetch(sql.delete, *audit)}
            done += [p for p in part.deletes if (p.event.org_id, p.event.entity_id) in keys]
        return done
