"""Property: paging while Zoho changes underneath never loses a record that existed
before and after the pull (and returns every record exactly once when nothing changes).

The fake lists like Zoho: inclusive `last_modified_time` filter, sort by
(last_modified_time, id), numbered pages; between any two requests a drawn batch of
edits (which move a record to the end), creates and deletes happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.zoho.entities import EntityDef
from producers.zoho.paging import iter_pages
from producers.zoho.timefmt import format_zoho, parse_zoho

BASE = 1_700_000_000


@dataclass
class FakeZoho:
    """Item lists of a mutable store; `changes[n]` is applied before request n+1."""

    records: dict[int, int]  # id -> last_modified_time (epoch seconds)
    changes: list[list[tuple[str, int]]]
    now: int
    next_id: int
    ties: bool = True  # let several changes share one second
    requests: int = 0

    async def list_json(self, definition: EntityDef,
                        params: Mapping[str, str]) -> dict[str, Any]:
        if self.requests > 0 and self.requests - 1 < len(self.changes):
            self._apply(self.changes[self.requests - 1])
        self.requests += 1
        assert self.requests < 10_000, "paging does not terminate"
        if params.get("sort_column") == "created_time":  # ids grow with creation
            rows = sorted(self.records.items())
        else:
            rows = sorted(self.records.items(), key=lambda kv: (kv[1], kv[0]))
        if "last_modified_time" in params:
            since = parse_zoho(params["last_modified_time"]).timestamp()
            rows = [r for r in rows if r[1] >= since]
        page, per_page = int(params["page"]), int(params["per_page"])
        chunk = rows[(page - 1) * per_page: page * per_page]
        items = [{"item_id": str(i), "last_modified_time": format_zoho(
            datetime.fromtimestamp(lm, UTC))} for i, lm in chunk]
        return {"code": 0, "message": "success", "items": items,
                "page_context": {"page": page, "per_page": per_page,
                                 "has_more_page": page * per_page < len(rows)}}

    def _apply(self, batch: list[tuple[str, int]]) -> None:
        for action, pick in batch:
            self.now += pick % 2 if self.ties else 1  # changes may share one second

            live = sorted(self.records)
            if action == "create" or not live:
                self.records[self.next_id] = self.now
                self.next_id += 1
            elif action == "edit":
                self.records[live[pick % len(live)]] = self.now
            else:
                del self.records[live[pick % len(live)]]


initial = st.lists(st.integers(0, 30), min_size=0, max_size=60)  # lm offsets: many ties
edits = st.tuples(st.sampled_from(["edit", "create"]), st.integers(0, 10_000))
changes = st.tuples(st.sampled_from(["edit", "create", "delete"]), st.integers(0, 10_000))


def _pull(fake: FakeZoho, per_page: int, since: datetime | None) -> list[str]:
    async def run() -> list[str]:
        out: list[str] = []
        async for page in iter_pages(fake, "item", per_page=per_page,
                                     modified_since=since):
            out += page.ids()
        return out

    return asyncio.run(run())


def _check(records: dict[int, int], batches: list[list[tuple[str, int]]], per_page: int,
           *, ties: bool) -> None:
    fake = FakeZoho(dict(records), batches, BASE + 40, len(records) + 1, ties=ties)
    pulled = set(_pull(fake, per_page, None))
    stayed = {str(i) for i in set(records) & set(fake.records)}
    assert stayed <= pulled


@settings(max_examples=150, deadline=None)
@given(offsets=initial, batches=st.lists(st.lists(edits, max_size=4), max_size=40),
       per_page=st.integers(1, 7))
def test_edits_and_creates_never_hide_a_record(offsets: list[int],
                                               batches: list[list[tuple[str, int]]],
                                               per_page: int) -> None:
    """Any number of records per second, any page size: edits and creates are harmless."""
    _check({n + 1: BASE + off for n, off in enumerate(offsets)}, batches, per_page, ties=True)


@settings(max_examples=150, deadline=None)
@given(offsets=initial, batches=st.lists(st.lists(changes, max_size=4), max_size=40),
       per_page=st.integers(1, 7))
def test_deletes_never_hide_a_record_when_seconds_hold_under_a_page(
        offsets: list[int], batches: list[list[tuple[str, int]]], per_page: int) -> None:
    """Edits, creates and deletes, while no second holds a full page of records."""
    counts: dict[int, int] = {}
    kept: list[int] = []
    for off in offsets:
        if counts.get(off, 0) + 1 < per_page:
            counts[off] = counts.get(off, 0) + 1
            kept.append(off)
    _check({n + 1: BASE + off for n, off in enumerate(kept)}, batches, per_page, ties=False)


@settings(max_examples=100, deadline=None)
@given(offsets=initial, per_page=st.integers(1, 7), cut=st.integers(0, 30))
def test_without_changes_each_record_comes_once(offsets: list[int], per_page: int,
                                                cut: int) -> None:
    records = {n + 1: BASE + off for n, off in enumerate(offsets)}
    fake = FakeZoho(dict(records), [], BASE + 40, len(records) + 1)
    since = datetime.fromtimestamp(BASE + cut, UTC)
    pulled = _pull(fake, per_page, since)
    assert sorted(pulled) == sorted(str(i) for i, lm in records.items() if lm >= BASE + cut)
    assert len(pulled) == len(set(pulled))
