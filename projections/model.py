"""How an entity read model maps `EntitySynced` events to rows: columns, key, child rows.

A model is data, not code: the SQL that writes it (`projections.sql`) and the rows the
projector sends (`rows`) both come from the same column lists, which the migrations in
`projections/migrations/` must match (an integration test checks they do).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.events import EntitySynced, SyncedVersion, synced_version

# Columns every entity table ends with, in this order, and their PostgreSQL types.
VERSION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("raw", "jsonb"),
    ("version_modified_at", "timestamptz"),
    ("version_offset", "bigint"),
    ("version_source", "text"),
    ("event_id", "text"),
    ("content_hash", "text"),
    ("source", "text"),
    ("sync_run_id", "text"),
    ("synced_at", "timestamptz"),
)
TOMBSTONE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("version_modified_at", "timestamptz"),
    ("version_offset", "bigint"),
    ("event_id", "text"),
    ("deleted_at", "timestamptz"),
)

# The projector's order of one record's events is the contract's (schemas.events).
Version = SyncedVersion
version = synced_version


@dataclass(frozen=True, slots=True)
class Column:
    """One record field stored in a column (`field` defaults to the column name)."""

    name: str
    sql_type: str
    field: str = ""

    @property
    def source(self) -> str:
        """The record field this column reads."""
        return self.field or self.name


def columns(spec: str) -> tuple[Column, ...]:
    """Parse `"name:type, name:type"` (type defaults to text) into columns."""
    out = []
    for part in spec.split(","):
        name, _, sql_type = part.strip().partition(":")
        out.append(Column(name, sql_type or "text"))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Child:
    """Rows that belong to one version of a parent record (lines, applications, levels)."""

    table: str
    field: str
    columns: tuple[Column, ...]
    numbered: bool = True  # key is (parent key, line_no); otherwise the first column
    versioned: bool = False  # each row keeps the parent's version_modified_at/offset

    @property
    def column_names(self) -> tuple[str, ...]:
        """Every column after the parent key, in table order."""
        names: tuple[str, ...] = ("line_no",) if self.numbered else ()
        names += tuple(c.name for c in self.columns)
        if self.versioned:
            names += ("version_modified_at", "version_offset")
        return names


def _identity(event: EntitySynced) -> Mapping[str, Any]:
    return event.record or {}


def _always(event: EntitySynced) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class ReadModel:
    """One entity read model: a table keyed by (org_id, id_column), its children and
    tombstones, fed by the events of `entity_types` that `accepts` lets through."""

    name: str
    table: str
    id_column: str
    entity_types: tuple[str, ...]
    columns: tuple[Column, ...]
    children: tuple[Child, ...] = ()
    view: Callable[[EntitySynced], Mapping[str, Any]] = field(default=_identity)
    accepts: Callable[[EntitySynced], bool] = field(default=_always)

    @property
    def selective(self) -> bool:
        """Whether `accepts` may refuse an event of `entity_types` (a replay then looks at
        the records to find each record's newest accepted event)."""
        return self.accepts is not _always

    @property
    def tombstones(self) -> str:
        """Name of the table that keeps the version of each deleted record."""
        return f"{self.table}_tombstones"

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table this model owns (what `tds replay` rebuilds and swaps)."""
        return (self.table, *(c.table for c in self.children), self.tombstones)

    @property
    def column_names(self) -> tuple[str, ...]:
        """Every column of the main table, in table order."""
        return ("org_id", self.id_column, *(c.name for c in self.columns),
                *(name for name, _ in VERSION_COLUMNS))

    def row(self, event: EntitySynced) -> tuple[Any, ...]:
        """The main-table row of an upsert, in `column_names` order."""
        record = self.view(event)
        get = record.get
        return (
            event.org_id, event.entity_id, *[get(c.source) for c in self.columns],
            event.raw_json, event.version_modified_at, event.version_offset,
            event.version_source, event.event_id, event.content_hash, event.source,
            event.sync_run_id, event.synced_at,
        )

    def child_rows(self, child: Child, event: EntitySynced) -> list[tuple[Any, ...]]:
        """The rows of `child` for an upsert, in `(org_id, id) + child.column_names` order."""
        items: Sequence[Mapping[str, Any]] = self.view(event).get(child.field) or ()
        out = []
        for number, item in enumerate(items, start=1):
            values: tuple[Any, ...] = (event.org_id, event.entity_id)
            if child.numbered:
                values += (number,)
            values += tuple(item.get(c.source) for c in child.columns)
            if child.versioned:
                values += (event.version_modified_at, event.version_offset)
            out.append(values)
        return out
