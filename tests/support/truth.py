"""The read models against the simulator's ground truth, every table and column.

Per entity table (items, locations, contacts, the six document types):
- `lost` / `extra`: a live Zoho record without a row, a row without a live record;
- `stale`: the row is older than Zoho and some field it holds differs (a change that only
  moved `last_modified_time` is not emitted, by the version rule: not stale);
- `newer_than_zoho`: the row claims a time Zoho never reached (a second or more past its
  time: within the second is the version rule's 1 µs lift of a same-second change);
- `wrong_value`: at Zoho's own time, the stored record differs from Zoho's on a field it
  holds; or a typed column, a child row (lines, applications, stock levels) or the item's
  stock row differs from what the projection makes of the stored record. The mapping is
  the projection's own (unit-tested apart); here it is the path that is judged: whatever
  the worker, Kafka or the projector lost, doubled or mangled shows as a difference.
And over the audit log, `duplicates`: an event applied twice to a table, or one version
of a record applied twice under two event ids.

A record in `excused` (say, one whose webhook Zoho gave up delivering while the receiver
was down) counts its problems under `excused` instead, so a verdict can leave out what
it cannot blame on the path it judges, and still show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import asyncpg
import orjson

from projections.catalog import MODELS
from projections.items import STOCK
from projections.model import ReadModel
from projections.sql import q
from simulator.entities import HOOK_TO_PATH
from streams.entities import normalise
from streams.errors import InvalidEvent
from tests.support.pipeline import http, zoho_time

PROBLEMS = ("lost", "extra", "stale", "wrong_value", "newer_than_zoho", "duplicates")
# Each entity type's own table: the first model it feeds (stock has no truth of its own:
# it is checked through the items that carry it).
OWN = tuple(m for m in MODELS if m.entity_types[0] in HOOK_TO_PATH and m is not STOCK)


@dataclass
class TableReport:
    """What one table got wrong, with a few examples for the failure message."""

    rows: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROBLEMS, 0))
    examples: list[str] = field(default_factory=list)
    excused: frozenset[str] = frozenset()
    excused_count: int = 0

    def add(self, problem: str, example: str, record_id: str = "") -> None:
        """Count one problem (or excuse it); keep the first few examples."""
        if record_id in self.excused:
            self.excused_count += 1
            problem = f"excused {problem}"
        else:
            self.counts[problem] += 1
        if len(self.examples) < 3:
            self.examples.append(f"{problem}: {example}"[:300])

    def as_dict(self) -> dict[str, Any]:
        """Counts, rows and examples as one flat mapping."""
        return {**self.counts, "excused": self.excused_count, "rows": self.rows,
                "examples": self.examples}


def clean(report: Mapping[str, Mapping[str, Any]]) -> bool:
    """Nothing lost, extra, stale, wrong or doubled anywhere."""
    return all(r.get(k, 0) == 0 for r in report.values() for k in PROBLEMS)


def same(a: Any, b: Any) -> bool:
    """Equal after the one normalisation both sides need (PostgreSQL hands back typed
    values; a JSON value may be a float where the column is numeric)."""
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.astimezone(UTC) == b.astimezone(UTC)
    if isinstance(a, Decimal | int | float) and isinstance(b, Decimal | int | float) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return Decimal(str(a)) == Decimal(str(b))
    return bool(a == b)


def _event(model: ReadModel, row: Mapping[str, Any], raw: dict[str, Any]) -> SimpleNamespace:
    """The fields of an entity_synced event the projection reads, rebuilt from a row."""
    entity_type = model.entity_types[0]
    return SimpleNamespace(
        org_id=row["org_id"], entity_id=row[model.id_column], entity_type=entity_type,
        op="upsert", record=normalise(entity_type, raw),
        version_modified_at=row["version_modified_at"], version_offset=row["version_offset"])


async def compare(dsn: str, sim: str, org: str, excused: frozenset[str] = frozenset()
                  ) -> dict[str, dict[str, Any]]:
    """Per table, what differs from the truth (see the module docstring)."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        report: dict[str, dict[str, Any]] = {}
        stock = TableReport(excused=excused)
        for model in OWN:
            table = TableReport(excused=excused)
            await _compare_table(conn, sim, org, model, table, stock)
            report[model.table] = table.as_dict()
        report[STOCK.table] = stock.as_dict()
        report["audit_log"] = (await _duplicates(conn, org)).as_dict()
        return report
    finally:
        await conn.close()


async def _compare_table(conn: asyncpg.Connection, sim: str, org: str, model: ReadModel,
                         table: TableReport, stock: TableReport) -> None:
    truth = http("GET", f"{sim}/_sim/state/{HOOK_TO_PATH[model.entity_types[0]]}")["records"]
    rows = {r[model.id_column]: r for r in await conn.fetch(
        f"SELECT * FROM {q(model.table)} WHERE org_id = $1", org)}
    table.rows = len(rows)
    for record_id in sorted(set(truth) - set(rows)):
        table.add("lost", f"{model.table}/{record_id}", record_id)
    for record_id in sorted(set(rows) - set(truth)):
        table.add("extra", f"{model.table}/{record_id}", record_id)
    for record_id in sorted(set(truth) & set(rows)):
        row, zoho = rows[record_id], truth[record_id]
        raw = orjson.loads(row["raw"]) if row["raw"] else {}
        zoho_at, stored_at = zoho_time(zoho["last_modified_time"]), row["version_modified_at"]
        name = f"{model.table}/{record_id}"
        # Zoho's record through the same normalisation, on the fields TDS received (a list
        # page has fewer than a GET), so only what TDS keeps is judged: a payment's detail
        # shows its invoices' current balances, which move without the payment's time.
        seen = {k: zoho[k] for k in raw if k in zoho}
        try:
            # Not the record's time: an edit of only what TDS does not keep moves Zoho's
            # time and is not emitted (the version rule), so TDS keeps the earlier one.
            differing = await _mismatches(conn, model, row, _event(model, row, seen),
                                          skip=("modified_at",))
        except InvalidEvent as exc:
            differing = [f"Zoho's record does not normalise: {exc}"]
        # Zoho's times are whole seconds; the version rule lifts a content change within
        # one second by 1 µs a step, so a row less than a second past is at Zoho's time.
        at_zoho_time = zoho_at <= stored_at < zoho_at + timedelta(seconds=1)
        if stored_at > zoho_at and not at_zoho_time:
            table.add("newer_than_zoho", f"{name}: {stored_at} > {zoho_at}", record_id)
        elif stored_at < zoho_at and differing:
            table.add("stale", f"{name}: {stored_at} < {zoho_at}, differs on {differing[:5]}",
                      record_id)
        elif at_zoho_time and differing:
            table.add("wrong_value", f"{name}: at Zoho's time, differs on {differing[:5]}",
                      record_id)
        # Never excused: the row disagrees with the record it was written from.
        event = _event(model, row, raw)
        wrong = await _mismatches(conn, model, row, event)
        if wrong:
            table.add("wrong_value", f"{name}: {wrong[:5]} differ from its own record")
        if model.entity_types[0] == "item" and STOCK.accepts(event):  # type: ignore[arg-type]
            await _compare_stock(conn, row, event, stock, name)


async def _mismatches(conn: asyncpg.Connection, model: ReadModel, row: Mapping[str, Any],
                      event: SimpleNamespace, skip: tuple[str, ...] = ()) -> list[str]:
    """The columns and child tables of `row` that differ from what `event` makes of it."""
    view = model.view(event)  # type: ignore[arg-type]
    wrong = [c.name for c in model.columns
             if c.name not in skip and not same(row[c.name], view.get(c.source))]
    for child in model.children:
        want = model.child_rows(child, event)  # type: ignore[arg-type]
        order = ", ".join(q(c) for c in child.column_names)
        got = await conn.fetch(
            f"SELECT {order} FROM {q(child.table)} WHERE org_id = $1 AND "
            f"{q(model.id_column)} = $2 ORDER BY {order}", row["org_id"],
            row[model.id_column])
        if not _same_rows([w[2:] for w in want], [tuple(g.values()) for g in got]):
            wrong.append(f"{child.table} ({len(got)} rows, {len(want)} expected)")
    return wrong


async def _compare_stock(conn: asyncpg.Connection, row: Mapping[str, Any],
                         event: SimpleNamespace, stock: TableReport, name: str) -> None:
    stored = await conn.fetchrow(
        f"SELECT * FROM {q(STOCK.table)} WHERE org_id = $1 AND item_id = $2",
        row["org_id"], row["item_id"])
    stock.rows += 1
    if stored is None:
        stock.add("lost", f"stock of {name}", row["item_id"])
        return
    if stored["from_entity"] != "item" or \
            stored["version_modified_at"] != row["version_modified_at"]:
        return  # a stock sync's snapshot (it may share the item's time): not this record's
    wrong = await _mismatches(conn, STOCK, stored, event)
    if wrong:
        stock.add("wrong_value", f"stock of {name}: {wrong[:5]} differ from its record")


def _same_rows(want: list[tuple[Any, ...]], got: list[tuple[Any, ...]]) -> bool:
    if len(want) != len(got):
        return False
    def key(values: tuple[Any, ...]) -> str:
        return str(values[0])  # line_no, or a stock level's location id
    return all(len(w) == len(g) and all(same(a, b) for a, b in zip(w, g, strict=True))
               for w, g in zip(sorted(want, key=key), sorted(got, key=key), strict=True))


async def _duplicates(conn: asyncpg.Connection, org: str) -> TableReport:
    """Events applied twice to one table, and one version applied twice."""
    audit = TableReport()
    twice = await conn.fetch(
        "SELECT table_name, event_id, count(*) AS n FROM audit_log WHERE org_id = $1 "
        "GROUP BY table_name, event_id HAVING count(*) > 1", org)
    for r in twice:
        audit.add("duplicates", f"event {r['event_id']} applied {r['n']}× to {r['table_name']}")
    versions = await conn.fetch(
        "SELECT table_name, entity_id, version_modified_at, content_hash, count(*) AS n "
        "FROM audit_log WHERE org_id = $1 AND action <> 'delete' "
        "GROUP BY table_name, entity_id, version_modified_at, version_offset, content_hash "
        "HAVING count(*) > 1", org)
    for r in versions:
        audit.add("duplicates", f"{r['table_name']}/{r['entity_id']} version "
                                f"{r['version_modified_at']} applied {r['n']}×")
    audit.rows = await conn.fetchval("SELECT count(*) FROM audit_log WHERE org_id = $1", org)
    return audit
