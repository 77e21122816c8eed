"""What the read models must hold after a set of events, computed without PostgreSQL, and
helpers to read the tables back in the same shape."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import orjson

from projections.catalog import MODELS
from projections.model import ReadModel, version
from projections.sql import child_columns, main_columns, q
from schemas.events import EntitySynced

Rows = dict[str, set[tuple[Any, ...]]]


def _norm(value: Any) -> Any:
    """jsonb comes back re-serialised: compare it as parsed JSON."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return orjson.dumps(orjson.loads(value), option=orjson.OPT_SORT_KEYS)
        except orjson.JSONDecodeError:
            return value
    return value


def _row(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(_norm(v) for v in values)


def expected(events: Iterable[EntitySynced], models: Sequence[ReadModel] = MODELS) -> Rows:
    """Every table's rows: per record, the event of the greatest version decides."""
    out: Rows = {}
    events = list(events)
    for model in models:
        winners: dict[tuple[str, str], EntitySynced] = {}
        for event in events:
            if event.entity_type in model.entity_types and model.accepts(event):
                key = (event.org_id, event.entity_id)
                if key not in winners or version(event) > version(winners[key]):
                    winners[key] = event
        out[model.table] = {_row(model.row(e)) for e in winners.values() if e.op != "delete"}
        out[model.tombstones] = {
            (e.org_id, e.entity_id, e.version_modified_at, e.version_offset, e.event_id,
             e.synced_at) for e in winners.values() if e.op == "delete"}
        for child in model.children:
            out[child.table] = {_row(r) for e in winners.values() if e.op != "delete"
                                for r in model.child_rows(child, e)}
    return out


async def actual(conn: asyncpg.Connection, models: Sequence[ReadModel] = MODELS,
                 suffix: str = "") -> Rows:
    """The same tables read back from PostgreSQL."""
    out: Rows = {}
    for model in models:
        cols = [c for c, _ in main_columns(model)]
        listed = ", ".join(f"{q(c)}::text" if c == "raw" else q(c) for c in cols)
        rows = await conn.fetch(f"SELECT {listed} FROM {q(model.table + suffix)}")
        out[model.table] = {_row(r.values()) for r in rows}
        rows = await conn.fetch(
            f"SELECT org_id, {q(model.id_column)}, version_modified_at, version_offset, "
            f"event_id, deleted_at FROM {q(model.tombstones + suffix)}")
        out[model.tombstones] = {tuple(r.values()) for r in rows}
        for child in model.children:
            ccols = ", ".join(q(c) for c, _ in child_columns(model, child))
            rows = await conn.fetch(f"SELECT {ccols} FROM {q(child.table + suffix)}")
            out[child.table] = {_row(r.values()) for r in rows}
    return out


def differences(want: Rows, got: Rows, limit: int = 3) -> list[str]:
    """Readable differences, table by table (empty when equal)."""
    problems = []
    for table in sorted(set(want) | set(got)):
        missing = want.get(table, set()) - got.get(table, set())
        extra = got.get(table, set()) - want.get(table, set())
        if missing or extra:
            problems.append(f"{table}: {len(missing)} missing e.g. {list(missing)[:limit]}, "
                            f"{len(extra)} unexpected e.g. {list(extra)[:limit]}")
    return problems
