"""Paging fallbacks with a scripted list: legacy warehouses, refused or ignored sorting,
a crowded second, and the query each request sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from producers.zoho.entities import EntityDef
from producers.zoho.errors import ZohoBadRequest, ZohoNotFound
from producers.zoho.paging import iter_pages, list_page


class Lists:
    """Answers list_json from a function of (path, params); records every request."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[tuple[str, dict[str, str]]] = []

    async def list_json(self, definition: EntityDef,
                        params: Mapping[str, str]) -> dict[str, Any]:
        self.requests.append((definition.path, dict(params)))
        result: dict[str, Any] = self.answer(definition, dict(params))
        return result


def _rows(key: str, ids: list[int], times: list[str] | None = None) -> list[dict[str, Any]]:
    return [{key: str(i), **({"last_modified_time": times[n]} if times else {})}
            for n, i in enumerate(ids)]


async def _all(client: Lists, entity_type: str, **kw: Any) -> list[str]:
    out: list[str] = []
    async for page in iter_pages(client, entity_type, **kw):
        out += page.ids()
    return out


async def test_legacy_orgs_list_warehouses() -> None:
    def answer(definition: EntityDef, params: dict[str, str]) -> dict[str, Any]:
        if definition.path == "/locations":
            raise ZohoNotFound("no locations", status=404)
        return {"code": 0, "warehouses": _rows("warehouse_id", [7, 8])}

    client = Lists(answer)
    assert await _all(client, "location") == ["7", "8"]
    assert [p for p, _ in client.requests] == ["/locations", "/settings/warehouses"]


async def test_refused_sort_falls_back_to_page_numbers() -> None:
    def answer(definition: EntityDef, params: dict[str, str]) -> dict[str, Any]:
        if "sort_column" in params:
            raise ZohoBadRequest("Invalid value passed for sort_column", status=400, code=2)
        page = int(params["page"])
        return {"code": 0, "vendorpayments": _rows("payment_id", [page * 10, page * 10 + 1]),
                "page_context": {"has_more_page": page < 3}}

    client = Lists(answer)
    assert await _all(client, "vendorpayment") == ["10", "11", "20", "21", "30", "31"]
    assert client.requests[1][1]["filter_by"] == "PaymentMode.All"


async def test_an_unsorted_answer_falls_back_to_page_numbers() -> None:
    times = ["2025-01-02T00:00:00+0000", "2025-01-01T00:00:00+0000"]  # descending

    def answer(definition: EntityDef, params: dict[str, str]) -> dict[str, Any]:
        page = int(params["page"])
        return {"code": 0, "bills": _rows("bill_id", [page * 2, page * 2 + 1], times),
                "page_context": {"has_more_page": page < 2}}

    client = Lists(answer)
    assert await _all(client, "bill") == ["2", "3", "4", "5"]
    assert [p.get("sort_column") for _, p in client.requests] == ["last_modified_time", None, None]


async def test_a_crowded_second_is_read_in_creation_order() -> None:
    same = "2025-01-01T00:00:00+0000"
    records = list(range(1, 8))  # seven records in one second, pages of three

    def answer(definition: EntityDef, params: dict[str, str]) -> dict[str, Any]:
        page, per = int(params["page"]), int(params["per_page"])
        chunk = records[(page - 1) * per: page * per]
        return {"code": 0, "items": _rows("item_id", chunk, [same] * len(chunk)),
                "page_context": {"has_more_page": page * per < len(records)}}

    client = Lists(answer)
    assert await _all(client, "item", per_page=3) == [str(i) for i in records]
    sorts = [p.get("sort_column") for _, p in client.requests]
    assert sorts[:2] == ["last_modified_time", "last_modified_time"]
    assert set(sorts[2:]) == {"created_time"}


async def test_the_query_of_a_page() -> None:
    def answer(definition: EntityDef, params: dict[str, str]) -> dict[str, Any]:
        return {"code": 0, "items": [], "page_context": {"has_more_page": False}}

    client = Lists(answer)
    page = await list_page(client, "item", page=2, per_page=500,
                           filter_by="Status.Active")
    assert len(page) == 0 and not page.has_more_page
    assert client.requests == [("/items", {"page": "2", "per_page": "200",
                                           "filter_by": "Status.Active"})]
