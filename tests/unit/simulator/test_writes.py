"""Write endpoints: ground truth, Zoho's refusals, look-ups by reference, webhooks, quotas."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.config import LimitConfig
from tests.unit.simulator.conftest import Receiver, Sim, SimFactory, small_config

BOOKS, INVENTORY = "/books/v3", "/inventory/v1"


async def send(sim: Sim, method: str, path: str, body: Any = None, *,
               prefix: str = BOOKS, form: bool = False) -> tuple[int, Any]:
    """Call a write endpoint with auth and organization_id; return status and JSON."""
    sim.cached = token = sim.cached or await sim.token()
    kwargs: dict[str, Any] = {}
    if form:
        kwargs["data"] = {"JSONString": body}
    elif isinstance(body, bytes):
        kwargs["data"] = body
        kwargs["headers"] = {"Content-Type": "application/json"}
    elif body is not None:
        kwargs["json"] = body
    headers = {"Authorization": f"Zoho-oauthtoken {token}", **kwargs.pop("headers", {})}
    resp = await sim.client.request(
        method, prefix + path, params={"organization_id": sim.creds["organization_id"]},
        headers=headers, **kwargs)
    return resp.status, await resp.json(content_type=None)


def customer(sim: Sim) -> str:
    contacts = sim.state.store.table("contacts").records.values()
    return next(c.id for c in contacts if c.data["contact_type"] == "customer")


def items(sim: Sim, n: int = 2) -> list[str]:
    return list(sim.state.store.table("items").records)[:n]


def order(sim: Sim, **extra: Any) -> dict[str, Any]:
    first, second = items(sim)
    return {"customer_id": customer(sim), "reference_number": "ERP-SO-1",
            "line_items": [{"item_id": first, "quantity": 2, "rate": 10},
                           {"item_id": second, "quantity": 1}], **extra}


async def test_create_is_ground_truth_and_found_by_its_reference(sim: Sim) -> None:
    table = sim.state.store.table("salesorders")
    before = len(table.records)
    status, body = await send(sim, "POST", "/salesorders", order(sim))
    assert status == 201, body
    assert (body["code"], body["message"]) == (0, "Sales Order has been created.")
    created = body["salesorder"]
    assert created["status"] == "draft" and created["reference_number"] == "ERP-SO-1"
    assert created["customer_id"] == customer(sim)
    assert [line["quantity"] for line in created["line_items"]] == [2.0, 1.0]
    assert created["sub_total"] == 20.0 + created["line_items"][1]["rate"]
    assert len(table.records) == before + 1 and created["salesorder_id"] in table.records
    status, got, _ = await sim.call(f"/salesorders/{created['salesorder_id']}")
    assert got["salesorder"] == created
    status, found, _ = await sim.call("/salesorders", {"reference_number": "ERP-SO-1"})
    assert [r["salesorder_id"] for r in found["salesorders"]] == [created["salesorder_id"]]
    # A control: another reference finds nothing, so the filter really filters.
    status, none, _ = await sim.call("/salesorders", {"reference_number": "ERP-SO-2"})
    assert none["salesorders"] == []


@pytest.mark.parametrize(("path", "key", "body"), [
    ("/items", "item", {"name": "Bolt M8", "rate": 1.5, "sku": "ERP-BOLT-8"}),
    ("/contacts", "contact", {"contact_name": "Nour Trading", "email": "n@example.com"}),
    ("/invoices", "invoice", {"reference_number": "ERP-INV-1"}),
    ("/customerpayments", "payment", {"payment_mode": "cash", "amount": 25,
                                      "reference_number": "ERP-PAY-1"}),
])
async def test_create_every_entity(sim: Sim, path: str, key: str, body: dict[str, Any]) -> None:
    if path in ("/invoices", "/customerpayments"):
        body = {**body, "customer_id": customer(sim)}
    if path == "/invoices":
        body["line_items"] = [{"item_id": items(sim, 1)[0], "quantity": 3}]
    status, answer = await send(sim, "POST", path, body)
    assert status == 201, answer
    for name, value in body.items():
        if name not in ("line_items",):
            assert answer[key][name] == value, name


async def test_a_created_record_carries_only_what_was_asked(sim: Sim) -> None:
    _, body = await send(sim, "POST", "/customerpayments", {
        "customer_id": customer(sim), "payment_mode": "cash", "amount": 5})
    assert body["payment"]["invoices"] == [] and body["payment"]["invoice_numbers"] == ""
    invoice = next(iter(sim.state.store.table("invoices").records.values()))
    _, body = await send(sim, "POST", "/customerpayments", {
        "customer_id": customer(sim), "payment_mode": "cash", "amount": 5,
        "invoices": [{"invoice_id": invoice.id, "amount_applied": 5}]})
    assert [i["invoice_id"] for i in body["payment"]["invoices"]] == [invoice.id]
    assert body["payment"]["invoice_numbers"] == invoice.data["invoice_number"]
    for n in range(6):  # the generator makes every fifth contact a vendor; a create does not
        _, body = await send(sim, "POST", "/contacts", {"contact_name": f"New {n}"})
        assert body["contact"]["contact_type"] == "customer"
    _, body = await send(sim, "POST", "/items", {"name": "Fresh", "rate": 1})
    assert (body["item"]["stock_on_hand"], body["item"]["sku"], body["item"]["image_id"]) == (
        0.0, "", "")


async def test_lookup_filters_for_items_and_contacts(sim: Sim) -> None:
    await send(sim, "POST", "/items", {"name": "Bolt", "rate": 1, "sku": "ERP-1"})
    await send(sim, "POST", "/contacts", {"contact_name": "Zed", "email": "zed@example.com"})
    _, found, _ = await sim.call("/items", {"sku": "ERP-1"}, prefix=INVENTORY)
    assert [i["name"] for i in found["items"]] == ["Bolt"]
    _, found, _ = await sim.call("/contacts", {"email": "zed@example.com"})
    assert [c["contact_name"] for c in found["contacts"]] == ["Zed"]


async def test_inventory_item_create_answers_200(sim: Sim) -> None:
    status, body = await send(sim, "POST", "/items", {"name": "Nut"}, prefix=INVENTORY)
    assert (status, body["message"]) == (200, "The item has been added.")


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/items", {"rate": 1}, "name"),
    ("/contacts", {"email": "x@example.com"}, "contact_name"),
    ("/salesorders", {"line_items": []}, "customer_id"),
    ("/customerpayments", {"amount": 5}, "customer_id"),
])
async def test_a_missing_mandatory_field_is_refused(sim: Sim, path: str, body: dict[str, Any],
                                                    field: str) -> None:
    count = len(sim.state.store.table(path[1:]).records)
    status, answer = await send(sim, "POST", path, body)
    assert (status, answer["code"]) == (400, 4)
    assert answer["message"] == f"{field} is mandatory. Please enter a value for {field}."
    assert len(sim.state.store.table(path[1:]).records) == count  # nothing created


@pytest.mark.parametrize(("change", "field"), [
    ({"customer_id": "999"}, "customer_id"),
    ({"date": "13/11/2025"}, "date"),
    ({"line_items": [{"item_id": "x", "quantity": -1}]}, None),  # unknown item: 1002
    ({"reference_number": 5}, "reference_number"),
])
async def test_an_invalid_value_is_refused_and_changes_nothing(
        sim: Sim, change: dict[str, Any], field: str | None) -> None:
    status, answer = await send(sim, "POST", "/salesorders", order(sim, **change))
    if field is None:
        assert (status, answer) == (404, {"code": 1002, "message": "Item does not exist."})
    else:
        assert (status, answer) == (400, {"code": 2,
                                          "message": f"Invalid value passed for {field}"})


async def test_duplicate_sku_and_document_number(sim: Sim) -> None:
    status, _ = await send(sim, "POST", "/items", {"name": "A", "rate": 1, "sku": "DUP-1"})
    assert status == 201
    status, answer = await send(sim, "POST", "/items", {"name": "B", "rate": 1, "sku": "dup-1"})
    assert (status, answer) == (400, {"code": 1001, "message": 'SKU "dup-1" already exists.'})
    taken = next(iter(sim.state.store.table("invoices").records.values())).data["invoice_number"]
    body = {"customer_id": customer(sim), "invoice_number": taken,
            "line_items": [{"item_id": items(sim, 1)[0]}]}
    status, answer = await send(sim, "POST", "/invoices", body)
    assert (status, answer["code"]) == (400, 1001) and taken in answer["message"]
    # A record may keep its own number on update: only other records count.
    invoice_id = next(iter(sim.state.store.table("invoices").records))
    status, _ = await send(sim, "PUT", f"/invoices/{invoice_id}", {"invoice_number": taken})
    assert status == 200


async def test_update_changes_fields_and_moves_the_version(sim: Sim) -> None:
    _, created = await send(sim, "POST", "/salesorders", order(sim))
    record_id = created["salesorder"]["salesorder_id"]
    sim.state.clock.advance(5)
    status, body = await send(sim, "PUT", f"/salesorders/{record_id}",
                              {"reference_number": "ERP-SO-1b",
                               "line_items": [{"item_id": items(sim, 1)[0], "quantity": 7}]})
    assert status == 200 and body["message"] == "Sales Order information has been updated."
    updated = body["salesorder"]
    assert updated["reference_number"] == "ERP-SO-1b" and updated["quantity"] == 7.0
    assert updated["last_modified_time"] > created["salesorder"]["last_modified_time"]
    status, body = await send(sim, "PUT", "/salesorders/4604000000000099999", {"x": 1})
    assert (status, body) == (404, {"code": 1002, "message": "Sales Order does not exist."})
    status, body = await send(sim, "PUT", f"/salesorders/{record_id}", {"line_items": []})
    assert (status, body["code"]) == (400, 4)  # an update may not empty a mandatory field


async def test_delete(sim: Sim) -> None:
    record_id = next(iter(sim.state.store.table("contacts").records))
    status, body = await send(sim, "DELETE", f"/contacts/{record_id}")
    assert (status, body) == (200, {"code": 0, "message": "The contact has been deleted."})
    assert record_id in sim.state.store.table("contacts").deleted
    status, _, _ = await sim.call(f"/contacts/{record_id}")
    assert status == 404
    status, body = await send(sim, "DELETE", f"/contacts/{record_id}")
    assert (status, body["code"]) == (404, 1002)


async def test_status_actions(sim: Sim) -> None:
    _, created = await send(sim, "POST", "/salesorders", order(sim))
    so = created["salesorder"]["salesorder_id"]
    status, body = await send(sim, "POST", f"/salesorders/{so}/status/confirmed",
                              prefix=INVENTORY)
    assert (status, body["code"]) == (200, 0)
    assert sim.state.store.table("salesorders").records[so].data["status"] == "confirmed"
    status, _ = await send(sim, "POST", f"/salesorders/{so}/status/void")
    assert status == 201
    status, body = await send(sim, "POST", f"/salesorders/{so}/status/open")
    assert (status, body["code"]) == (400, 2)  # a void order cannot be opened
    _, inv = await send(sim, "POST", "/invoices", {
        "customer_id": customer(sim), "line_items": [{"item_id": items(sim, 1)[0]}]})
    invoice_id = inv["invoice"]["invoice_id"]
    status, _ = await send(sim, "POST", f"/invoices/{invoice_id}/status/sent")
    assert status == 200
    assert sim.state.store.table("invoices").records[invoice_id].data["status"] == "sent"
    status, body = await send(sim, "POST", f"/invoices/{invoice_id}/status/sent")
    assert (status, body["code"]) == (400, 2)  # already sent


async def test_json_string_form_and_malformed_json(sim: Sim) -> None:
    status, body = await send(sim, "POST", "/contacts", '{"contact_name": "Form Co"}', form=True)
    assert status == 201 and body["contact"]["contact_name"] == "Form Co"
    status, body = await send(sim, "POST", "/contacts", b'{"contact_name": ')
    assert (status, body) == (400, {"code": 1038, "message": "JSON is not well formed"})


async def test_quantity_adjustment_moves_stock_per_location(sim: Sim) -> None:
    item_id = items(sim, 1)[0]
    item = sim.state.store.table("items").records[item_id]
    site = sim.state.store.sites[1]
    assert item.stock is not None
    before, total = item.stock[1][0], item.data["stock_on_hand"]
    body = {"date": "2025-11-13", "reason": "Stock count", "adjustment_type": "quantity",
            "reference_number": "ERP-ADJ-1",
            "line_items": [{"item_id": item_id, "location_id": site.id,
                            "quantity_adjusted": 5}]}
    status, answer = await send(sim, "POST", "/inventoryadjustments", body, prefix=INVENTORY)
    assert status == 201, answer
    assert item.stock[1][0] == before + 5 and item.data["stock_on_hand"] == total + 5
    adjustment_id = answer["inventory_adjustment"]["inventory_adjustment_id"]
    _, found, _ = await sim.call("/inventoryadjustments", {"reference_number": "ERP-ADJ-1"},
                                 prefix=INVENTORY)
    assert [a["inventory_adjustment_id"] for a in found["inventory_adjustments"]] == [
        adjustment_id]
    truth = (await sim.control("adjustments"))["records"]  # what tests count effects by
    assert truth[adjustment_id]["reference_number"] == "ERP-ADJ-1"
    # Below zero is refused, and the whole adjustment changes nothing.
    body["line_items"] = [{"item_id": item_id, "location_id": site.id, "quantity_adjusted": 1},
                          {"item_id": item_id, "location_id": site.id,
                           "quantity_adjusted": -(before + 7)}]
    status, answer = await send(sim, "POST", "/inventoryadjustments", body, prefix=INVENTORY)
    assert (status, answer["message"]) == (400, "Invalid value passed for quantity_adjusted")
    assert item.stock[1][0] == before + 5


async def test_value_adjustment_leaves_quantities(sim: Sim) -> None:
    item_id = items(sim, 1)[0]
    item = sim.state.store.table("items").records[item_id]
    total = item.data["stock_on_hand"]
    body = {"date": "2025-11-13", "reason": "Revaluation", "adjustment_type": "value",
            "line_items": [{"item_id": item_id, "value_adjusted": 120.5}]}
    status, answer = await send(sim, "POST", "/inventoryadjustments", body, prefix=INVENTORY)
    assert status == 201 and answer["inventory_adjustment"]["total"] == 120.5
    assert item.data["stock_on_hand"] == total
    status, answer = await send(sim, "POST", "/inventoryadjustments",
                                {**body, "adjustment_type": "count"}, prefix=INVENTORY)
    assert (status, answer["code"]) == (400, 2)
    status, answer = await send(sim, "POST", "/inventoryadjustments",
                                {k: v for k, v in body.items() if k != "reason"},
                                prefix=INVENTORY)
    assert (status, answer["code"]) == (400, 4)


async def test_writes_fire_webhooks(sim: Sim, receiver: Receiver) -> None:
    await sim.control("webhooks", {"url": receiver.url, "retry_schedule_s": [0.05],
                                   "max_attempts": 2, "timeout_s": 2})
    _, created = await send(sim, "POST", "/salesorders", order(sim))
    so = created["salesorder"]["salesorder_id"]
    await send(sim, "PUT", f"/salesorders/{so}", {"reference_number": "ERP-SO-9"})
    await send(sim, "DELETE", f"/salesorders/{so}")
    body = await sim.control("webhooks/drain", {"timeout_s": 5})
    assert body["drained"], body
    hooks = [(dict(r.query)["action"], so.encode() in r.body) for r in receiver.requests]
    assert hooks == [("created", True), ("edited", True), ("deleted", True)]


async def test_writes_drop_webhooks_under_the_drop_fault(sim: Sim, receiver: Receiver) -> None:
    await sim.control("webhooks", {"url": receiver.url, "drop_rate": 1.0})
    await send(sim, "POST", "/contacts", {"contact_name": "Dropped"})
    await sim.control("webhooks/drain", {"timeout_s": 5})
    assert receiver.requests == []
    assert sim.state.stats.webhooks["dropped"] == 1


async def test_writes_count_against_the_per_minute_limit(sim_factory: SimFactory) -> None:
    sim = await sim_factory(small_config(limits=LimitConfig(per_minute=3)))
    await sim.token()
    statuses = [(await send(sim, "POST", "/contacts", {"contact_name": f"C{n}"}))
                for n in range(3)]
    assert [s for s, _ in statuses] == [201, 201, 201]
    status, body = await send(sim, "POST", "/contacts", {"contact_name": "C4"})
    assert (status, body["code"]) == (429, 44)
    status, _, _ = await sim.call("/contacts")  # reads share the same budget
    assert status == 429


async def test_refusals_may_come_with_http_200(sim: Sim) -> None:
    await sim.control("faults", {"refusal_200_rate": 1.0})
    status, body = await send(sim, "POST", "/items", {"rate": 1})
    assert (status, body["code"]) == (200, 4)  # the body still says it was refused
    status, _, _ = await sim.call("/items", {"per_page": "0"})
    assert status == 400  # reads keep their status
    await sim.control("faults", {"refusal_200_rate": 0.0})
    status, body = await send(sim, "POST", "/items", {"rate": 1})
    assert (status, body["code"]) == (400, 4)
    assert (await sim.control("stats"))["faults"]["refusal_200"] == 1
