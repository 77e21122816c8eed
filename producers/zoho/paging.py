"""Page iterators: every record of an entity type, optionally only those modified since.

Zoho pages by number, so a record edited mid-pull moves to the end of a list sorted by
`last_modified_time` and every later record shifts up one place: plain page numbers
would skip one. Lists that can be sorted and filtered by `last_modified_time` are
therefore read by keyset: each request asks for page 1 of "modified at or after the
newest time seen so far" (the filter is inclusive), and records already returned at that
exact time are skipped. Only a group of more than one page of records sharing a single
second falls back to page numbers inside that second.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from producers.zoho.entities import LEGACY_WAREHOUSES, EntityDef, entity_def
from producers.zoho.errors import ZohoBadRequest, ZohoNotFound
from producers.zoho.timefmt import format_zoho, record_modified

logger = logging.getLogger(__name__)

MAX_PER_PAGE = 200
MAX_PAGES = 1_000_000  # a bound on every paging loop (200 million records)


class Lister(Protocol):
    """What paging needs of the client (ZohoClient): one list call's envelope. A protocol,
    so the client can use paging without paging importing the client back."""

    async def list_json(self, definition: EntityDef, params: Mapping[str, str]
                        ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Page:
    """One list response: its records (new ones only, when keyset paging) and position."""

    entity_type: str
    records: list[dict[str, Any]]
    page: int
    per_page: int
    has_more_page: bool
    id_field: str = "id"
    # Newest last_modified_time on this page (None when no record carried one).
    max_modified: datetime | None = None
    # True when the page came from a list sorted by last_modified_time, so every record
    # modified before `max_modified` has been returned (a safe cursor checkpoint).
    ordered: bool = False
    context: dict[str, Any] = field(default_factory=dict, repr=False)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def ids(self) -> list[str]:
        """The ids of the records on this page."""
        return [str(r[self.id_field]) for r in self.records if r.get(self.id_field)]


def _params(
    *,
    page: int,
    per_page: int,
    filter_by: str | None,
    since: datetime | None,
    by_modified: bool,
) -> dict[str, str]:
    params = {"page": str(page), "per_page": str(max(1, min(per_page, MAX_PER_PAGE)))}
    if filter_by:
        params["filter_by"] = filter_by
    if since is not None:
        params["last_modified_time"] = format_zoho(since.astimezone(UTC))
    if by_modified:
        params["sort_column"] = "last_modified_time"
        params["sort_order"] = "A"
    return params


def _page(definition: EntityDef, envelope: dict[str, Any], page: int, per_page: int,
          records: list[dict[str, Any]], *, ordered: bool = False) -> Page:
    raw_context = envelope.get("page_context")
    context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
    times = [t for t in (record_modified(r) for r in records) if t is not None]
    return Page(
        entity_type=definition.entity_type,
        records=records,
        page=page,
        per_page=per_page,
        has_more_page=bool(context.get("has_more_page", False)),
        id_field=definition.id_field,
        max_modified=max(times) if times else None,
        ordered=ordered,
        context=context,
    )


async def list_page(
    client: Lister,
    entity_type: str,
    *,
    page: int = 1,
    per_page: int = MAX_PER_PAGE,
    filter_by: str | None = None,
    modified_since: datetime | None = None,
    sort_by_modified: bool = False,
) -> Page:
    """One page of a list, as Zoho numbers them."""
    definition = entity_def(entity_type)
    envelope = await client.list_json(definition, _params(
        page=page, per_page=per_page, filter_by=filter_by or definition.all_filter,
        since=modified_since,
        by_modified=sort_by_modified))
    rows = [r for r in envelope[definition.list_key] if isinstance(r, dict)]
    return _page(definition, envelope, page, per_page, rows)


async def iter_pages(
    client: Lister,
    entity_type: str,
    *,
    modified_since: datetime | None = None,
    per_page: int = MAX_PER_PAGE,
    filter_by: str | None = None,
) -> AsyncIterator[Page]:
    """Every record of `entity_type` (modified at or after `modified_since`), page by page.

    A record edited during the pull may come twice (old and new version); a record that
    exists before and after the pull is never missed.
    """
    definition = entity_def(entity_type)
    if definition.entity_type == "location":
        async for page in _locations(client, per_page):
            yield page
        return
    filter_by = filter_by or definition.all_filter
    state = _KeysetState(since=modified_since)
    if definition.by_modified:
        async for page in _keyset(client, definition, per_page, filter_by, state):
            yield page
        if state.outcome == "done":
            return
    if state.outcome == "crowded":
        # More than a page of records share one second: read the rest in creation order,
        # which edits do not change (only a delete mid-pull can still shift a record).
        try:
            async for page in _numbered(client, definition, state.since, per_page, filter_by,
                                        sort_column="created_time", skip=state.seen):
                yield page
            return
        except _SortRefused:
            logger.warning("%s: cannot sort by created_time; stepping by page number",
                           definition.path)
    sort = "last_modified_time" if state.outcome == "crowded" else None
    async for page in _numbered(client, definition, state.since, per_page, filter_by,
                                sort_column=sort, skip=state.seen):
        yield page


class _SortRefused(Exception):
    """Zoho refused the sort column on the first page (code 2)."""


@dataclass(slots=True)
class _KeysetState:
    since: datetime | None
    # done | unsorted (Zoho cannot sort by last_modified_time) | crowded (a full page
    # inside one second at `since`)
    outcome: str = "done"
    seen: set[str] = field(default_factory=set)  # ids already returned at `since`


async def _keyset(client: Lister, definition: EntityDef, per_page: int,
                  filter_by: str | None, state: _KeysetState) -> AsyncIterator[Page]:
    since = state.since
    boundary = since
    at_boundary: set[str] = set()  # ids already returned whose time equals `boundary`
    id_field = definition.id_field
    for _ in range(MAX_PAGES):
        try:
            envelope = await client.list_json(definition, _params(
                page=1, per_page=per_page, filter_by=filter_by, since=boundary,
                by_modified=True))
        except ZohoBadRequest as exc:
            if exc.code != 2 or boundary != since:
                raise
            logger.warning("%s: cannot sort by last_modified_time (%s); paging by number",
                           definition.path, exc)
            state.outcome = "unsorted"
            return
        rows = [r for r in envelope[definition.list_key] if isinstance(r, dict)]
        times = [record_modified(r) for r in rows]
        if boundary == since and not _ascending(times):
            logger.warning("%s: list not ordered by last_modified_time; paging by number",
                           definition.path)
            state.outcome = "unsorted"
            return
        fresh = [r for r in rows if str(r.get(id_field)) not in at_boundary]
        page = _page(definition, envelope, 1, per_page, fresh, ordered=True)
        if fresh or not page.has_more_page:
            yield page
        if not page.has_more_page or not rows:
            return
        last = times[-1]
        if last is None or (boundary is not None and last <= boundary):
            state.since, state.seen, state.outcome = boundary, at_boundary | set(page.ids()), \
                "crowded"
            return
        boundary = last
        at_boundary = {str(r.get(id_field)) for r, t in zip(rows, times, strict=True)
                       if t == last}
    raise RuntimeError(f"{definition.path}: more than {MAX_PAGES} pages")


def _ascending(times: list[datetime | None]) -> bool:
    if any(t is None for t in times):
        return False
    known = [t for t in times if t is not None]
    return all(a <= b for a, b in itertools.pairwise(known))


async def _numbered(client: Lister, definition: EntityDef, since: datetime | None,
                    per_page: int, filter_by: str | None, *, sort_column: str | None = None,
                    skip: set[str] | None = None) -> AsyncIterator[Page]:
    """Numbered pages; ids in `skip` (already returned) are left out."""
    params_since = since if definition.by_modified else None
    for number in range(1, MAX_PAGES + 1):
        params = _params(page=number, per_page=per_page, filter_by=filter_by,
                         since=params_since, by_modified=False)
        if sort_column:
            params.update(sort_column=sort_column, sort_order="A")
        try:
            envelope = await client.list_json(definition, params)
        except ZohoBadRequest as exc:
            if sort_column and number == 1 and exc.code == 2:
                raise _SortRefused(str(exc)) from exc
            raise
        rows = [r for r in envelope[definition.list_key] if isinstance(r, dict)]
        fresh = rows if not skip else [r for r in rows
                                       if str(r.get(definition.id_field)) not in skip]
        page = _page(definition, envelope, number, per_page, fresh)
        yield page
        if not page.has_more_page or not rows:
            return
    raise RuntimeError(f"{definition.path}: more than {MAX_PAGES} pages")


async def _locations(client: Lister, per_page: int) -> AsyncIterator[Page]:
    # Orgs still on the legacy warehouses feature have no /locations list.
    definition = entity_def("location")
    try:
        first = await client.list_json(definition, {})
    except (ZohoNotFound, ZohoBadRequest):
        definition = LEGACY_WAREHOUSES
        first = await client.list_json(definition, {})
    rows = [r for r in first[definition.list_key] if isinstance(r, dict)]
    yield _page(definition, first, 1, per_page, rows)
