"""Records and per-entity tables: the simulator's ground truth."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from simulator.config import OrgConfig, StockShape
from simulator.entities import ENTITIES, EntitySpec
from simulator.ids import record_id


class Line(NamedTuple):
    """One stored line item; names and SKUs are read from the item when rendered."""

    line_item_id: str
    item_seq: int
    quantity: float
    rate: float
    location_index: int


@dataclass(slots=True, eq=False)
class Record:
    """One Zoho record: list-view fields plus what GET adds that can change."""

    id: str
    seq: int
    data: dict[str, Any]  # exactly the list-view fields, in output order
    created: int  # epoch seconds
    lm: int  # last_modified_time, epoch seconds (1 s resolution, like Zoho)
    hidden: dict[str, Any] = field(default_factory=dict)  # GET-only fields that edits change
    lines: list[Line] | None = None
    # items: per location [on_hand, committed, actual_committed]
    stock: list[list[float]] | None = None
    refs: list[tuple[int, float]] | None = None  # payments: (invoice or bill seq, applied)
    next_line: int = 0
    image_rev: int = 0


class Table:
    """The live and deleted records of one entity, live ones in ascending id order."""

    def __init__(self, spec: EntitySpec) -> None:
        self.spec = spec
        self.records: dict[str, Record] = {}
        self.deleted: dict[str, Record] = {}
        self.version = 0  # bumped on every change; keys the list cache
        self.next_seq = 0

    def add(self, rec: Record) -> None:
        """Insert a record; ids grow with seq, so insertion order stays id order."""
        self.records[rec.id] = rec
        self.next_seq = max(self.next_seq, rec.seq + 1)
        self.version += 1

    def remove(self, record_id: str) -> Record:
        """Delete a live record and keep its last state as the deleted snapshot."""
        rec = self.records.pop(record_id)
        self.deleted[record_id] = rec
        self.version += 1
        return rec

    def touch(self) -> None:
        """Note that a record changed in place."""
        self.version += 1

    def lookup(self, record_id: str) -> Record | None:
        """Return a live or deleted record by id."""
        return self.records.get(record_id) or self.deleted.get(record_id)

    def pick(self, rng: random.Random, prefix: int) -> Record | None:
        """Return a random live record in (amortised) constant time."""
        if not self.records or self.next_seq == 0:
            return None
        for _ in range(32):  # bounded: deletions are rare, so a random seq almost always hits
            seq = rng.randrange(self.next_seq)
            rec = self.records.get(record_id(prefix, self.spec.path, seq))
            if rec is not None:
                return rec
        return rng.choice(list(self.records.values()))


@dataclass
class Store:
    """Every table of the one simulated organization."""

    seed: int
    prefix: int
    org: OrgConfig
    shape: StockShape
    image_fraction: float
    hostile_fraction: float
    tables: dict[str, Table] = field(
        default_factory=lambda: {path: Table(spec) for path, spec in ENTITIES.items()}
    )

    def table(self, path: str) -> Table:
        """Return the table for a list path such as "items"."""
        return self.tables[path]

    def id_of(self, path: str, seq: int) -> str:
        """Return the id of the seq-th record of an entity."""
        return record_id(self.prefix, path, seq)

    def record(self, path: str, seq: int) -> Record | None:
        """Return a live or deleted record by seq."""
        return self.tables[path].lookup(self.id_of(path, seq))

    @property
    def sites(self) -> list[Record]:
        """Return the locations (warehouses) in id order."""
        return list(self.tables["locations"].records.values())
