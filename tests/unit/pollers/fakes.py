"""A fake Zoho source for poller unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from producers.zoho.budget import Priority
from producers.zoho.entities import entity_def
from producers.zoho.paging import Page
from producers.zoho.timefmt import format_zoho, record_modified

T0 = datetime(2025, 11, 13, 10, 0, tzinfo=UTC)


class FakeZoho:
    """Records per entity type; lists sorted by last_modified_time, filter inclusive."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.calls: list[tuple[str, Any]] = []
        self.priorities: list[Priority] = []  # the class of each run's calls

    def put(self, entity_type: str, entity_id: str, at: datetime, **fields: Any) -> None:
        id_field = entity_def(entity_type).id_field
        self.records.setdefault(entity_type, {})[entity_id] = {
            id_field: entity_id, "last_modified_time": format_zoho(at), **fields}

    def delete(self, entity_type: str, entity_id: str) -> None:
        del self.records[entity_type][entity_id]

    def for_class(self, priority: Priority) -> FakeZoho:
        self.priorities.append(priority)
        return self

    async def iter_pages(self, entity_type: str, *, modified_since: datetime | None = None,
                         per_page: int = 200, filter_by: str | None = None
                         ) -> AsyncIterator[Page]:
        self.calls.append(("list", (entity_type, modified_since, per_page)))
        rows = sorted(self.records.get(entity_type, {}).values(),
                      key=lambda r: record_modified(r) or T0)
        if modified_since is not None:
            rows = [r for r in rows if (record_modified(r) or T0) >= modified_since]
        id_field = entity_def(entity_type).id_field
        for start in range(0, max(len(rows), 1), per_page):
            chunk = rows[start:start + per_page]
            times = [t for t in (record_modified(r) for r in chunk) if t]
            yield Page(entity_type, [dict(r) for r in chunk], start // per_page + 1, per_page,
                       start + per_page < len(rows), id_field,
                       max(times) if times else None, ordered=True)

    async def get_item_details(self, item_ids: Sequence[str]) -> list[dict[str, Any]]:
        self.calls.append(("details", list(item_ids)))
        items = self.records.get("item", {})
        return [dict(items[i], locations=[{"location_id": "L1",
                                           "location_stock_on_hand": "1.00"}])
                for i in item_ids if i in items]

    async def get_record(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        self.calls.append(("get", (entity_type, entity_id)))
        record = self.records.get(entity_type, {}).get(entity_id)
        return dict(record) if record else None


def minutes(n: float) -> timedelta:
    """n minutes."""
    return timedelta(minutes=n)
