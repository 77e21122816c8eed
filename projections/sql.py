"""The bulk statements that write one read model, generated from its column lists.

A batch is COPYed (binary) into a per-session temporary staging table; one statement then
consumes the staged rows (`DELETE … RETURNING`) and writes the model with
`INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE` the incoming version is newer. The
version rule lives here: a row changes only when the incoming (version_modified_at,
version_offset, event_id) is greater than the stored one, and a record's tombstone stops
an older upsert from bringing it back. The caller stages at most one event per record
(the newest of its batch), as `ON CONFLICT` may touch a row only once per statement.

`names` maps a live table to the table actually written (`tds replay` builds into
shadow tables); `audit=False` leaves the audit log out (a rebuild is not a change).
`repair=True` also rewrites a row from an event of its own version (re-applying after an
operator's offset reset heals rows changed by hand; the content is the event's again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from projections.model import VERSION_COLUMNS, Child, ReadModel

# Staged after the model's columns: where the event came from, and upsert or delete.
STAGE_EXTRA: tuple[tuple[str, str], ...] = (
    ("entity_type_", "text"), ("topic_", "text"), ("partition_", "integer"),
    ("offset_", "bigint"), ("op_", "text"),
)
_VERSION = ("version_modified_at", "version_offset", "event_id")
_TYPES = {"text", "numeric", "date", "timestamptz", "integer", "bigint", "boolean", "jsonb"}


def q(name: str) -> str:
    """Quote an identifier (column names such as `date` are keywords)."""
    return '"' + name.replace('"', '""') + '"'


def _newer(left: str, right: str, *, or_equal: bool = False) -> str:
    a = ", ".join(f"{left}.{c}" for c in _VERSION)
    b = ", ".join(f"{right}.{c}" for c in _VERSION)
    return f"({a}) {'<=' if or_equal else '<'} ({b})"


def stage_name(table: str) -> str:
    """The temporary table a live table's rows are COPYed into."""
    return f"tds_stage_{table}"


def main_columns(model: ReadModel) -> list[tuple[str, str]]:
    """(name, type) of every main-table column, in table order."""
    return [("org_id", "text"), (model.id_column, "text"),
            *((c.name, c.sql_type) for c in model.columns), *VERSION_COLUMNS]


def child_columns(model: ReadModel, child: Child) -> list[tuple[str, str]]:
    """(name, type) of every column of a child table, in table order."""
    cols = [("org_id", "text"), (model.id_column, "text")]
    if child.numbered:
        cols.append(("line_no", "integer"))
    cols += [(c.name, c.sql_type) for c in child.columns]
    if child.versioned:
        cols += [("version_modified_at", "timestamptz"), ("version_offset", "bigint")]
    return cols


def _create_temp(name: str, columns: list[tuple[str, str]]) -> str:
    for _, sql_type in columns:
        if sql_type not in _TYPES:
            raise ValueError(f"unsupported column type {sql_type!r}")
    # raw travels as text: COPY then needs no JSON work in Python; the INSERT casts it.
    defs = ", ".join(f"{q(c)} {'text' if t == 'jsonb' else t}" for c, t in columns)
    # Not ON COMMIT DELETE ROWS: truncating ~20 tables at every commit costs ~5 ms; the
    # statements consume their rows and the writer truncates now and then (see _stage).
    return f"CREATE TEMP TABLE IF NOT EXISTS {q(name)} ({defs})"


@dataclass(frozen=True, slots=True)
class ModelStatements:
    """The SQL of one model.

    `stage` creates the temporary tables (once per session), `truncate` empties them;
    `upsert` and `delete` consume
    the staged rows of their op and return the keys they changed (with the audit on, they
    take $1 consumer group); each of `children` moves its staged child rows into place.
    """

    stage: tuple[str, ...]
    truncate: str
    stage_table: str
    stage_columns: tuple[str, ...]
    child_stages: tuple[str, ...]
    upsert: str
    delete: str
    children: tuple[str, ...]


def _audit(model: ReadModel, action: str) -> str:
    key = q(model.id_column)
    return (
        "audited AS (INSERT INTO audit_log (consumer_group, topic, kafka_partition, "
        "kafka_offset, table_name, action, org_id, entity_type, entity_id, event_id, "
        "version_modified_at, version_offset, content_hash, source, sync_run_id) "
        f"SELECT $1, i.topic_, i.partition_, i.offset_, '{model.table}', {action}, i.org_id, "
        f"i.entity_type_, i.{key}, i.event_id, i.version_modified_at, i.version_offset, "
        "i.content_hash, i.source, i.sync_run_id FROM applied a JOIN incoming i "
        f"ON i.org_id = a.org_id AND i.{key} = a.{key})"
    )


def statements(
    model: ReadModel, *, names: Mapping[str, str] | None = None, audit: bool = True,
    repair: bool = False,
) -> ModelStatements:
    """Generate the statements of `model` (table names through `names`)."""
    names = names or {}
    table = q(names.get(model.table, model.table))
    tomb = q(names.get(model.tombstones, model.tombstones))
    stage = stage_name(model.table)
    key = q(model.id_column)

    def same(a: str, b: str) -> str:
        return f"{a}.org_id = {b}.org_id AND {a}.{key} = {b}.{key}"

    columns = main_columns(model)
    cols = [c for c, _ in columns]
    col_list = ", ".join(q(c) for c in cols)
    select = ", ".join(f"i.{q(c)}::jsonb" if t == "jsonb" else f"i.{q(c)}" for c, t in columns)
    updates = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in cols[2:])
    clear = [
        f"cleared_{n} AS (DELETE FROM {q(names.get(ch.table, ch.table))} c "
        f"USING {{src}} a WHERE {same('c', 'a')})"
        for n, ch in enumerate(model.children)
    ]

    upsert_ctes = [
        f"incoming AS (DELETE FROM {q(stage)} WHERE op_ = 'upsert' RETURNING *)",
        f"applied AS (INSERT INTO {table} AS t ({col_list}) SELECT {select} FROM incoming i "
        f"WHERE NOT EXISTS (SELECT 1 FROM {tomb} d WHERE {same('d', 'i')} "
        f"AND NOT {_newer('d', 'i')}) "
        f"ON CONFLICT (org_id, {key}) DO UPDATE SET {updates} "
        f"WHERE {_newer('t', 'EXCLUDED', or_equal=repair)} "
        f"RETURNING t.org_id, t.{key}, (t.xmax = 0) AS inserted)",
        f"untombed AS (DELETE FROM {tomb} d USING applied a WHERE {same('d', 'a')})",
        *(c.format(src="applied") for c in clear),
    ]
    if audit:
        upsert_ctes.append(_audit(model, "CASE WHEN a.inserted THEN 'insert' ELSE 'update' END"))
    upsert = f"WITH {', '.join(upsert_ctes)} SELECT org_id, {key} FROM applied"

    delete_ctes = [
        f"incoming AS (DELETE FROM {q(stage)} WHERE op_ = 'delete' RETURNING *)",
        f"removed AS (DELETE FROM {table} t USING incoming i WHERE {same('t', 'i')} "
        f"AND {_newer('t', 'i')} RETURNING t.org_id, t.{key})",
        *(c.format(src="removed") for c in clear),
        f"applied AS (INSERT INTO {tomb} AS d (org_id, {key}, version_modified_at, "
        "version_offset, event_id, deleted_at) "
        f"SELECT i.org_id, i.{key}, i.version_modified_at, i.version_offset, i.event_id, "
        f"i.synced_at FROM incoming i WHERE NOT EXISTS (SELECT 1 FROM {table} t "
        f"WHERE {same('t', 'i')} AND NOT {_newer('t', 'i')}) "
        f"ON CONFLICT (org_id, {key}) DO UPDATE SET version_modified_at = "
        "EXCLUDED.version_modified_at, version_offset = EXCLUDED.version_offset, "
        "event_id = EXCLUDED.event_id, deleted_at = EXCLUDED.deleted_at "
        f"WHERE {_newer('d', 'EXCLUDED')} RETURNING d.org_id, d.{key})",
    ]
    if audit:
        delete_ctes.append(_audit(model, "'delete'"))
    delete = f"WITH {', '.join(delete_ctes)} SELECT org_id, {key} FROM applied"

    stage_sql = [_create_temp(stage, columns + list(STAGE_EXTRA))]
    child_stages, children = [], []
    for child in model.children:
        cstage = stage_name(child.table)
        ccols = child_columns(model, child)
        stage_sql.append(_create_temp(cstage, ccols))
        child_stages.append(cstage)
        children.append(
            f"WITH staged AS (DELETE FROM {q(cstage)} RETURNING *) "
            f"INSERT INTO {q(names.get(child.table, child.table))} "
            f"({', '.join(q(c) for c, _ in ccols)}) "
            f"SELECT {', '.join(q(c) for c, _ in ccols)} FROM staged")
    truncate = f"TRUNCATE {', '.join(q(t) for t in (stage, *child_stages))}"
    return ModelStatements(
        stage=tuple(stage_sql), truncate=truncate, stage_table=stage,
        stage_columns=tuple(cols + [c for c, _ in STAGE_EXTRA]),
        child_stages=tuple(child_stages), upsert=upsert, delete=delete,
        children=tuple(children))
