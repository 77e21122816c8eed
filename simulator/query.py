"""List-endpoint query parameters: validation, filtering, sorting and paging."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.clock import parse_ts
from simulator.entities import EntitySpec
from simulator.errors import invalid_value
from simulator.store import Record, Table

MAX_PER_PAGE = 200
DEFAULT_SORT = "created_time"  # ids grow with creation time, so id order is creation order


@dataclass(frozen=True)
class ListQuery:
    """A validated list request."""

    page: int = 1
    per_page: int = MAX_PER_PAGE
    sort_column: str | None = None
    sort_order: str = "A"
    since: float | None = None  # last_modified_time filter, epoch seconds, inclusive
    filter_by: str = ""
    contact_type: str | None = None
    matches: tuple[tuple[str, str], ...] = ()  # exact-match filters, e.g. (("sku", "A-1"),)


def _int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_value(name) from None
    if not low <= value <= high:
        raise invalid_value(name)
    return value


def parse_list_query(spec: EntitySpec, query: Mapping[str, str], offset_min: int) -> ListQuery:
    """Validate list parameters the way Zoho does (HTTP 400, code 2, on a bad value)."""
    page = _int(query, "page", 1, 1, 10**9)
    per_page = _int(query, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    sort_column = query.get("sort_column") or None
    if sort_column is not None and sort_column not in spec.sort_columns:
        raise invalid_value("sort_column")
    sort_order = query.get("sort_order") or "A"
    if sort_order not in ("A", "D"):
        raise invalid_value("sort_order")
    since = None
    if "last_modified_time" in query:
        try:
            since = parse_ts(query["last_modified_time"], offset_min)
        except ValueError:
            raise invalid_value("last_modified_time") from None
    filter_by = query.get("filter_by") or spec.default_filter
    if filter_by not in spec.filters:
        raise invalid_value("filter_by")
    contact_type = query.get("contact_type") or None
    if contact_type is not None and (
        spec.path != "contacts" or contact_type not in ("customer", "vendor")
    ):
        raise invalid_value("contact_type")
    matches = tuple(sorted((k, v) for k, v in query.items() if k in spec.match_filters))
    return ListQuery(
        page, per_page, sort_column, sort_order, since, filter_by, contact_type, matches
    )


def _sort_key(spec: EntitySpec, column: str) -> Any:
    if column == "created_time":
        return lambda r: (r.created, int(r.id))
    if column == "last_modified_time":
        return lambda r: (r.lm, int(r.id))
    if column in spec.numeric_columns:
        return lambda r: (float(r.data.get(column) or 0), int(r.id))
    return lambda r: (str(r.data.get(column, "")).lower(), int(r.id))


class Lister:
    """Selects and orders records for list requests, caching results per table version."""

    def __init__(self, size: int = 32) -> None:
        self._cache: OrderedDict[tuple[Any, ...], list[Record]] = OrderedDict()
        self._size = size

    def select(self, table: Table, q: ListQuery) -> list[Record]:
        """Return every matching record in response order."""
        key = (
            table.spec.path,
            table.version,
            q.filter_by,
            q.contact_type,
            q.since,
            q.sort_column,
            q.sort_order,
            q.matches,
        )
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        rows: list[Record] = list(table.records.values())
        spec = table.spec
        condition = spec.filters[q.filter_by]
        if condition is not None:
            field, allowed = condition
            rows = [r for r in rows if r.data.get(field) in allowed]
        for name, value in q.matches:
            # UNCONFIRMED whether Zoho compares case-insensitively: we match exactly.
            rows = [r for r in rows if str(r.data.get(name, "")) == value]
        if q.contact_type is not None:
            rows = [r for r in rows if r.data.get("contact_type") == q.contact_type]
        if q.since is not None:
            since = q.since
            rows = [r for r in rows if r.lm >= since]
        if q.sort_column is not None:
            rows.sort(key=_sort_key(spec, q.sort_column), reverse=q.sort_order == "D")
        elif q.sort_order == "D":
            rows.reverse()
        self._cache[key] = rows
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return rows


def page_context(spec: EntitySpec, q: ListQuery, total: int) -> dict[str, Any]:
    """Return Zoho's page_context for one page of a list."""
    return {
        "page": q.page,
        "per_page": q.per_page,
        "has_more_page": q.page * q.per_page < total,
        "report_name": spec.report_name,
        "applied_filter": q.filter_by,
        "sort_column": q.sort_column or DEFAULT_SORT,
        "sort_order": q.sort_order,
        "search_criteria": [],
    }
