"""Books and Inventory read endpoints: auth, organization, envelope, paging, filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from yarl import URL

from simulator.entities import DOCUMENT_ENTITIES, ENTITIES
from tests.unit.simulator.conftest import Sim


async def _all(sim: Sim, path: str, params: dict[str, str], key: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in range(1, 100):  # bounded
        status, body, _ = await sim.call(path, {**params, "page": str(page)})
        assert status == 200, body
        rows += body[key]
        if not body["page_context"]["has_more_page"]:
            return rows
    raise AssertionError("paging did not end")


async def test_missing_and_bad_authorization(sim: Sim) -> None:
    resp = await sim.client.get(
        "/books/v3/items", params={"organization_id": sim.creds["organization_id"]}
    )
    assert resp.status == 401
    assert (await resp.json())["code"] == 14
    resp = await sim.client.get(
        "/books/v3/items",
        params={"organization_id": sim.creds["organization_id"]},
        headers={"Authorization": "Bearer abc"},
    )
    assert (resp.status, (await resp.json())["code"]) == (401, 14)
    status, body, headers = await sim.call("/items", token="1000.unknown.token")
    assert (status, body["code"]) == (401, 57)
    assert not any(h.lower().startswith("x-rate-limit") for h in headers)
    assert "Retry-After" not in headers


async def test_wrong_or_missing_organization_is_400_code_6041(sim: Sim) -> None:
    status, body, _ = await sim.call("/items", {"organization_id": "123"})
    assert status == 400
    assert body == {
        "code": 6041,
        "message": "This user is not associated with the CompanyID/CompanyName:123.",
    }
    status, body, _ = await sim.call("/items", org=False)
    assert (status, body["code"]) == (400, 6041)


async def test_organizations_need_no_organization_id(sim: Sim) -> None:
    status, body, _ = await sim.call("/organizations", org=False)
    assert status == 200
    assert body["organizations"][0]["organization_id"] == sim.creds["organization_id"]
    status, body, _ = await sim.call(f"/organizations/{sim.creds['organization_id']}", org=False)
    assert body["organization"]["time_zone"] == "Asia/Baghdad"


@pytest.mark.parametrize("path", DOCUMENT_ENTITIES)
async def test_paging_covers_every_record_exactly_once(sim: Sim, path: str) -> None:
    spec = ENTITIES[path]
    rows = await _all(sim, f"/{path}", {"per_page": "7"}, spec.list_key)
    ids = [r[spec.id_field] for r in rows]
    assert len(ids) == len(set(ids))
    truth = await sim.control(f"state/{path}")
    assert set(ids) == set(truth["records"])
    assert ids == sorted(ids, key=int)  # default order: id ascending
    assert all("line_items" not in r for r in rows)


async def test_envelope_and_page_context(sim: Sim) -> None:
    status, body, _ = await sim.call("/invoices", {"per_page": "5", "page": "2"})
    assert status == 200
    assert (body["code"], body["message"]) == (0, "success")
    ctx = body["page_context"]
    assert ctx == {
        "page": 2,
        "per_page": 5,
        "has_more_page": True,
        "report_name": "Invoices",
        "applied_filter": "Status.All",
        "sort_column": "created_time",
        "sort_order": "A",
        "search_criteria": [],
    }
    _, body, _ = await sim.call("/invoices")
    assert body["page_context"]["per_page"] == 200
    assert len(body["invoices"]) == 40


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("per_page", "201"),
        ("per_page", "0"),
        ("page", "0"),
        ("page", "x"),
        ("sort_order", "X"),
        ("sort_column", "bogus"),
        ("filter_by", "Status.Bogus"),
        ("last_modified_time", "yesterday"),
    ],
)
async def test_bad_parameters_are_400_code_2(sim: Sim, param: str, value: str) -> None:
    status, body, _ = await sim.call("/items", {param: value})
    assert status == 400
    assert body == {"code": 2, "message": f"Invalid value passed for {param}"}


async def test_sorting(sim: Sim) -> None:
    _, body, _ = await sim.call("/items", {"sort_column": "name", "sort_order": "D"})
    names = [r["name"].lower() for r in body["items"]]
    assert names == sorted(names, reverse=True)
    assert body["page_context"]["sort_column"] == "name"
    _, body, _ = await sim.call("/invoices", {"sort_column": "total"})
    totals = [float(r["total"]) for r in body["invoices"]]
    assert totals == sorted(totals)
    _, body, _ = await sim.call("/contacts", {"sort_column": "last_modified_time"})
    stamps = [
        sim.state.store.table("contacts").records[r["contact_id"]].lm for r in body["contacts"]
    ]
    assert stamps == sorted(stamps)


async def test_last_modified_time_filter_is_inclusive_and_needs_encoded_plus(sim: Sim) -> None:
    records = sim.state.store.table("items").records.values()
    pivot = sorted(records, key=lambda r: r.lm)[len(records) // 2]
    stamp = pivot.data["last_modified_time"]  # e.g. 2025-06-01T10:00:00+0300
    assert "+0300" in stamp
    expected = {r.id for r in records if r.lm >= pivot.lm}
    rows = await _all(sim, "/items", {"last_modified_time": stamp}, "items")  # sent as %2B
    assert {r["item_id"] for r in rows} == expected
    assert pivot.id in expected

    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z")
    variants = (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        moment.isoformat(),  # +03:00
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    )
    for variant in variants:
        got = await _all(sim, "/items", {"last_modified_time": variant}, "items")
        assert {r["item_id"] for r in got} == expected, variant
    later = (moment + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S%z")
    got = await _all(sim, "/items", {"last_modified_time": later}, "items")
    assert pivot.id not in {r["item_id"] for r in got}

    token = await sim.token()
    raw = (
        f"/books/v3/items?organization_id={sim.creds['organization_id']}&last_modified_time={stamp}"
    )
    resp = await sim.client.get(
        URL(raw, encoded=True), headers={"Authorization": f"Zoho-oauthtoken {token}"}
    )
    assert resp.status == 400  # an unencoded "+" arrives as a space
    assert await resp.json() == {
        "code": 2,
        "message": "Invalid value passed for last_modified_time",
    }


async def test_filter_by_and_contact_type(sim: Sim) -> None:
    inactive = await _all(sim, "/items", {"filter_by": "Status.Inactive"}, "items")
    truth = [r for r in sim.state.store.table("items").records.values()]
    assert {r["item_id"] for r in inactive} == {
        r.id for r in truth if r.data["status"] == "inactive"
    }
    _, body, _ = await sim.call("/items", {"filter_by": "Status.Active"})
    assert body["page_context"]["applied_filter"] == "Status.Active"
    assert all(r["status"] == "active" for r in body["items"])
    vendors = await _all(sim, "/contacts", {"contact_type": "vendor"}, "contacts")
    assert vendors and all(r["contact_type"] == "vendor" for r in vendors)
    _, body, _ = await sim.call("/invoices", {"filter_by": "Status.Paid"})
    assert all(r["status"] == "paid" for r in body["invoices"])
    _, body, _ = await sim.call("/customerpayments", {"filter_by": "PaymentMode.Cash"})
    assert all(r["payment_mode"] == "cash" for r in body["customerpayments"])
    status, body, _ = await sim.call("/contacts", {"contact_type": "martian"})
    assert (status, body["code"]) == (400, 2)


@pytest.mark.parametrize("path", DOCUMENT_ENTITIES)
async def test_get_returns_singular_key_and_more_fields(sim: Sim, path: str) -> None:
    spec = ENTITIES[path]
    _, listing, _ = await sim.call(f"/{path}", {"per_page": "1"})
    row = listing[spec.list_key][0]
    status, body, _ = await sim.call(f"/{path}/{row[spec.id_field]}")
    assert status == 200
    record = body[spec.single_key]
    assert set(row) < set(record)
    assert {k: record[k] for k in row} == row
    if spec.has_lines:
        item_ids = {line["item_id"] for line in record["line_items"]}
        assert item_ids and all(i in sim.state.store.table("items").records for i in item_ids)
        assert all(line["line_item_id"].isdigit() for line in record["line_items"])


async def test_customer_payment_keys(sim: Sim) -> None:
    _, body, _ = await sim.call("/customerpayments", {"per_page": "1"})
    payment_id = body["customerpayments"][0]["payment_id"]
    _, body, _ = await sim.call(f"/customerpayments/{payment_id}")
    assert body["payment"]["payment_id"] == payment_id
    assert body["payment"]["invoices"][0]["invoice_id"].isdigit()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("items", "Item does not exist."),
        ("invoices", "Invoice does not exist."),
        ("customerpayments", "Payment does not exist."),
    ],
)
async def test_unknown_id_is_404_code_1002(sim: Sim, path: str, message: str) -> None:
    status, body, _ = await sim.call(f"/{path}/4600000000000000999")
    assert status == 404
    assert body == {"code": 1002, "message": message}


async def test_itemdetails(sim: Sim) -> None:
    ids = list(sim.state.store.table("items").records)[:3]
    status, body, _ = await sim.call("/itemdetails", {"item_ids": ",".join(reversed(ids))})
    assert status == 200
    assert [i["item_id"] for i in body["items"]] == list(reversed(ids))
    assert all("locations" in i for i in body["items"])
    many = ",".join(str(4600000000000000 + n) for n in range(101))
    status, body, _ = await sim.call("/itemdetails", {"item_ids": many})
    assert (status, body["code"]) == (400, 2)


async def test_item_image(sim: Sim) -> None:
    records = list(sim.state.store.table("items").records.values())
    with_image = next(r for r in records if r.data["image_id"])
    without = next(r for r in records if not r.data["image_id"])
    token = await sim.token()
    auth = {"Authorization": f"Zoho-oauthtoken {token}"}
    params = {"organization_id": sim.creds["organization_id"]}
    resp = await sim.client.get(
        f"/inventory/v1/items/{with_image.id}/image", params=params, headers=auth
    )
    assert resp.status == 200
    body = await resp.read()
    if with_image.data["image_type"] == "png":
        assert resp.content_type == "image/png" and body.startswith(b"\x89PNG")
    else:
        assert resp.content_type == "image/jpeg" and body.startswith(b"\xff\xd8")
    again = await sim.client.get(
        f"/books/v3/items/{with_image.id}/image", params=params, headers=auth
    )
    assert await again.read() == body
    assert "X-Rate-Limit-Remaining" in resp.headers
    resp = await sim.client.get(
        f"/inventory/v1/items/{without.id}/image", params=params, headers=auth
    )
    assert resp.status == 404
    assert (await resp.json())["code"] == 1002


async def test_books_and_inventory_serve_the_same_data(sim: Sim) -> None:
    _, books, _ = await sim.call("/salesorders", {"per_page": "3"})
    _, inventory, _ = await sim.call("/salesorders", {"per_page": "3"}, prefix="/inventory/v1")
    assert books == inventory


async def test_locations_warehouses_and_unknown_urls(sim: Sim) -> None:
    _, locs, _ = await sim.call("/locations")
    _, whs, _ = await sim.call("/settings/warehouses", prefix="/inventory/v1")
    assert [x["location_id"] for x in locs["locations"]] == [
        w["warehouse_id"] for w in whs["warehouses"]
    ]
    assert sum(1 for x in locs["locations"] if x["is_primary"]) == 1
    wid = whs["warehouses"][1]["warehouse_id"]
    _, one, _ = await sim.call(f"/settings/warehouses/{wid}", prefix="/inventory/v1")
    assert one["warehouse"]["warehouse_id"] == wid
    status, body, _ = await sim.call("/nonsense")
    assert (status, body["code"]) == (404, 5)


async def test_request_stats(sim: Sim) -> None:
    await sim.call("/items")
    await sim.call("/items/1")
    await sim.call("/items", {"per_page": "500"})
    stats = await sim.control("stats")
    assert stats["requests"]["by_status"] == {"200": 1, "400": 1, "404": 1}
    assert stats["requests"]["by_code"] == {"0": 1, "2": 1, "1002": 1}
