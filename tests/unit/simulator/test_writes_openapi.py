"""Write responses validated against the stored Zoho OpenAPI copies (as test_openapi.py does
for reads, with the same documented fixes). Inventory adjustments have no copy (facts 7b)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft7Validator

from tests.unit.simulator.conftest import Sim
from tests.unit.simulator.test_openapi import _document, _resolve, response_schema
from tests.unit.simulator.test_writes import BOOKS, INVENTORY, customer, items, order, send

# (product, spec file, entity path, singular key, id field)
ENTITIES = [
    ("books", "items.yml", "items", "item", "item_id"),
    ("books", "contacts.yml", "contacts", "contact", "contact_id"),
    ("books", "sales-order.yml", "salesorders", "salesorder", "salesorder_id"),
    ("books", "invoices.yml", "invoices", "invoice", "invoice_id"),
    ("books", "customer-payments.yml", "customerpayments", "payment", "payment_id"),
    ("inventory", "items.yml", "items", "item", "item_id"),
    ("inventory", "contacts.yml", "contacts", "contact", "contact_id"),
    ("inventory", "salesorders.yml", "salesorders", "salesorder", "salesorder_id"),
    ("inventory", "invoices.yml", "invoices", "invoice", "invoice_id"),
    ("inventory", "customer-payments.yml", "customerpayments", "payment", "payment_id"),
]
# Status actions per product: (spec file, entity path, action); answers are {code, message}.
ACTIONS = [
    ("books", "sales-order.yml", "salesorders", "open"),
    ("books", "sales-order.yml", "salesorders", "void"),
    ("inventory", "salesorders.yml", "salesorders", "confirmed"),
    ("inventory", "salesorders.yml", "salesorders", "void"),
    ("books", "invoices.yml", "invoices", "sent"),
    ("books", "invoices.yml", "invoices", "void"),
    ("inventory", "invoices.yml", "invoices", "sent"),
    ("inventory", "invoices.yml", "invoices", "void"),
]


def create_body(sim: Sim, path: str) -> dict[str, Any]:
    """A valid create body for each entity (the union of the copies' mandatory fields)."""
    line = [{"item_id": items(sim, 1)[0], "quantity": 2}]
    bodies: dict[str, dict[str, Any]] = {
        "items": {"name": "Bolt", "rate": 2.5, "sku": "ERP-B1"},
        "contacts": {"contact_name": "Nour Trading"},
        "salesorders": order(sim, salesorder_number="SO-ERP-1"),
        "invoices": {"customer_id": customer(sim), "line_items": line},
        "customerpayments": {"customer_id": customer(sim), "payment_mode": "cash",
                             "amount": 10, "date": "2025-11-13", "invoices": []},
    }
    return bodies[path]


def check(schema: dict[str, Any], body: Any, key: str, id_field: str) -> None:
    errors = sorted(Draft7Validator(schema).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    record_schema = schema["properties"][key]
    assert id_field in record_schema["properties"], "the schema would not check the record"
    broken = copy.deepcopy(body)  # a control: the schema rejects an id that is a number
    broken[key][id_field] = 123
    assert not Draft7Validator(schema).is_valid(broken)


@pytest.mark.parametrize(("product", "name", "path", "key", "id_field"), ENTITIES,
                         ids=[f"{e[0]}:{e[2]}" for e in ENTITIES])
async def test_create_and_update_match_the_copy(sim: Sim, product: str, name: str, path: str,
                                                key: str, id_field: str) -> None:
    prefix = BOOKS if product == "books" else INVENTORY
    doc = _document(product, name)
    create_status = next(iter(doc["paths"][f"/{path}"]["post"]["responses"]))
    status, body = await send(sim, "POST", f"/{path}", create_body(sim, path), prefix=prefix)
    assert str(status) == create_status, body
    spec_key = "sales_order" if (product, path) == ("inventory", "salesorders") else key  # fix 7
    created = response_schema(product, name, f"/{path}", spec_key, key, method="post",
                              status=create_status)
    check(created, body, key, id_field)
    record_id = body[key][id_field]
    spec_path = f"/{path}/{{{id_field}}}"
    status, body = await send(sim, "PUT", f"/{path}/{record_id}", {"reference_number": "R-2"}
                              if path != "items" and path != "contacts" else {"phone": "1"}
                              if path == "contacts" else {"rate": 3}, prefix=prefix)
    assert status == 200, body
    updated = created if spec_key == "sales_order" else response_schema(  # fix 7
        product, name, spec_path, key, key, method="put")
    check(updated, body, key, id_field)
    status, body = await send(sim, "DELETE", f"/{path}/{record_id}", prefix=prefix)
    plain = _plain(product, name, spec_path, "delete")
    assert status == 200 and Draft7Validator(plain).is_valid(body), body


def _plain(product: str, name: str, spec_path: str, method: str) -> dict[str, Any]:
    """The {code, message} schema of a delete or action, with its one documented status."""
    doc = _document(product, name)
    (status, answer), = doc["paths"][spec_path][method]["responses"].items()
    schema = _resolve(doc, answer["content"]["application/json"]["schema"])
    assert set(schema["properties"]) == {"code", "message"}
    schema = {**schema, "required": ["code", "message"], "x-status": int(status)}
    assert isinstance(schema, dict)
    return schema


@pytest.mark.parametrize(("product", "name", "path", "action"), ACTIONS,
                         ids=[f"{a[0]}:{a[2]}:{a[3]}" for a in ACTIONS])
async def test_status_actions_match_the_copy(sim: Sim, product: str, name: str, path: str,
                                             action: str) -> None:
    prefix = BOOKS if product == "books" else INVENTORY
    _, created = await send(sim, "POST", f"/{path}", create_body(sim, path), prefix=prefix)
    id_field = f"{path[:-1]}_id"
    record_id = created[path[:-1]][id_field]
    schema = _plain(product, name, f"/{path}/{{{id_field}}}/status/{action}", "post")
    status, body = await send(sim, "POST", f"/{path}/{record_id}/status/{action}", prefix=prefix)
    assert status == schema["x-status"], body
    assert Draft7Validator(schema).is_valid(body) and body["code"] == 0
    assert not Draft7Validator(schema).is_valid({"code": "0"})  # a control
