"""Validate simulator list and get responses against the stored Zoho OpenAPI copies.

The copies are loose and sometimes contradict ZOHO_API_FACTS.md or each other. Where they do,
the facts win and the schema is adjusted here, each adjustment numbered here:

1. Books customer-payments list: the copy names the key ``customer_payments``; the facts (2.1)
   and the Inventory copy say ``customerpayments``. Our ``customerpayments`` array is validated
   against the copy's ``customer_payments`` schema.
2. Money fields typed ``integer`` (Books bills ``total``/``balance``/``sub_total``/``tax_total``,
   line ``item_total``; contacts ``outstanding_*``; vendor payments ``bcy_*``; Inventory sales
   orders ``bcy_total``): the facts (4) say money is a number, so these accept any number.
3. Invoice ``total``/``balance``/``shipping_charge`` typed ``string``: the facts (4, 4.4) say
   numbers that sometimes arrive as strings, so both are accepted.
4. Books GET salesorder types ``salesorder`` as an array of the order: validated as the object.
5. Books creditnotes list types ``creditnotes`` as an object: validated as an array of it.
6. Books invoices list types ``page_context`` as an array of the context: validated as the object.
7. Inventory sales order create and update answers name the key ``sales_order`` (its GET and
   every Books answer say ``salesorder``, as do the facts, 2.1): our ``salesorder`` is validated
   against it, and the update (whose copy types it as a bare ``object``) against the create's
   record schema (test_writes_openapi.py).

Fields whose types conflict between the Books and Inventory copies (item ``tax_percentage``,
line ``image_id``, contact ``tax_id``, ``custom_fields[].customfield_id``, bill line
``bcy_rate``, document ``discount``) are simply not emitted by the simulator.
"""

from __future__ import annotations

import copy
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from tests.unit.simulator.conftest import Sim

# Copies of Zoho's published OpenAPI documents (from the steering repo's shared/zoho/openapi).
SPEC_DIR = Path(os.environ.get("ZOHO_OPENAPI_DIR",
                               Path(__file__).parents[2] / "fixtures" / "zoho_openapi"))

MONEY = frozenset(
    {
        "total",
        "balance",
        "sub_total",
        "tax_total",
        "bcy_total",
        "bcy_amount",
        "bcy_balance",
        "item_total",
        "outstanding_receivable_amount",
        "outstanding_receivable_amount_bcy",
        "unused_credits_receivable_amount",
        "unused_credits_receivable_amount_bcy",
        "unused_credits_payable_amount",
    }
)
STRING_OR_NUMBER = frozenset({"total", "balance", "shipping_charge"})

# (product, spec file, API path, spec path, spec key, our key, id field)
CASES = [
    ("books", "items.yml", "/items", "/items", "items", "items", "item_id"),
    ("books", "items.yml", "/items/{id}", "/items/{item_id}", "item", "item", "item_id"),
    ("books", "items.yml", "/itemdetails", "/itemdetails", "items", "items", "item_id"),
    ("books", "contacts.yml", "/contacts", "/contacts", "contacts", "contacts", "contact_id"),
    (
        "books",
        "contacts.yml",
        "/contacts/{id}",
        "/contacts/{contact_id}",
        "contact",
        "contact",
        "contact_id",
    ),
    (
        "books",
        "sales-order.yml",
        "/salesorders",
        "/salesorders",
        "salesorders",
        "salesorders",
        "salesorder_id",
    ),
    (
        "books",
        "sales-order.yml",
        "/salesorders/{id}",
        "/salesorders/{salesorder_id}",
        "salesorder",
        "salesorder",
        "salesorder_number",
    ),
    ("books", "invoices.yml", "/invoices", "/invoices", "invoices", "invoices", "invoice_id"),
    (
        "books",
        "invoices.yml",
        "/invoices/{id}",
        "/invoices/{invoice_id}",
        "invoice",
        "invoice",
        "invoice_id",
    ),
    (
        "books",
        "customer-payments.yml",
        "/customerpayments",
        "/customerpayments",
        "customer_payments",
        "customerpayments",
        "payment_id",
    ),
    (
        "books",
        "customer-payments.yml",
        "/customerpayments/{id}",
        "/customerpayments/{payment_id}",
        "payment",
        "payment",
        "payment_id",
    ),
    (
        "books",
        "credit-notes.yml",
        "/creditnotes",
        "/creditnotes",
        "creditnotes",
        "creditnotes",
        "creditnote_id",
    ),
    (
        "books",
        "credit-notes.yml",
        "/creditnotes/{id}",
        "/creditnotes/{creditnote_id}",
        "creditnote",
        "creditnote",
        "creditnote_id",
    ),
    ("books", "bills.yml", "/bills", "/bills", "bills", "bills", "bill_id"),
    ("books", "bills.yml", "/bills/{id}", "/bills/{bill_id}", "bill", "bill", "bill_id"),
    (
        "books",
        "vendor-payments.yml",
        "/vendorpayments",
        "/vendorpayments",
        "vendorpayments",
        "vendorpayments",
        "payment_id",
    ),
    (
        "books",
        "vendor-payments.yml",
        "/vendorpayments/{id}",
        "/vendorpayments/{payment_id}",
        "vendorpayment",
        "vendorpayment",
        "payment_id",
    ),
    ("books", "locations.yml", "/locations", "/locations", "locations", "locations", "location_id"),
    (
        "books",
        "organizations.yml",
        "/organizations",
        "/organizations",
        "organizations",
        "organizations",
        "organization_id",
    ),
    ("inventory", "items.yml", "/items", "/items", "items", "items", "item_id"),
    ("inventory", "items.yml", "/items/{id}", "/items/{item_id}", "item", "item", "item_id"),
    ("inventory", "items.yml", "/itemdetails", "/itemdetails", "items", "items", "item_id"),
    ("inventory", "contacts.yml", "/contacts", "/contacts", "contacts", "contacts", "contact_id"),
    (
        "inventory",
        "contacts.yml",
        "/contacts/{id}",
        "/contacts/{contact_id}",
        "contact",
        "contact",
        "contact_id",
    ),
    (
        "inventory",
        "salesorders.yml",
        "/salesorders",
        "/salesorders",
        "salesorders",
        "salesorders",
        "salesorder_id",
    ),
    (
        "inventory",
        "salesorders.yml",
        "/salesorders/{id}",
        "/salesorders/{salesorder_id}",
        "salesorder",
        "salesorder",
        "salesorder_id",
    ),
    ("inventory", "invoices.yml", "/invoices", "/invoices", "invoices", "invoices", "invoice_id"),
    (
        "inventory",
        "invoices.yml",
        "/invoices/{id}",
        "/invoices/{invoice_id}",
        "invoice",
        "invoice",
        "invoice_id",
    ),
    (
        "inventory",
        "customer-payments.yml",
        "/customerpayments",
        "/customerpayments",
        "customerpayments",
        "customerpayments",
        "payment_id",
    ),
    (
        "inventory",
        "customer-payments.yml",
        "/customerpayments/{id}",
        "/customerpayments/{payment_id}",
        "payment",
        "payment",
        "payment_id",
    ),
    (
        "inventory",
        "credit-notes.yml",
        "/creditnotes",
        "/creditnotes",
        "creditnotes",
        "creditnotes",
        "creditnote_id",
    ),
    (
        "inventory",
        "credit-notes.yml",
        "/creditnotes/{id}",
        "/creditnotes/{creditnote_id}",
        "creditnote",
        "creditnote",
        "creditnote_id",
    ),
    ("inventory", "bills.yml", "/bills", "/bills", "bills", "bills", "bill_id"),
    ("inventory", "bills.yml", "/bills/{id}", "/bills/{bill_id}", "bill", "bill", "bill_id"),
    (
        "inventory",
        "locations.yml",
        "/locations",
        "/locations",
        "locations",
        "locations",
        "location_id",
    ),
    (
        "inventory",
        "locations.yml",
        "/locations/{id}",
        "/locations/{location_id}",
        "location",
        "location",
        "location_id",
    ),
    (
        "inventory",
        "organizations.yml",
        "/organizations",
        "/organizations",
        "organizations",
        "organizations",
        "organization_id",
    ),
]


@cache
def _document(product: str, name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((SPEC_DIR / product / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def _resolve(doc: dict[str, Any], node: Any, seen: frozenset[str] = frozenset()) -> Any:
    """Inline $refs and turn OpenAPI 3.0 ``nullable`` into a JSON Schema type union."""
    if isinstance(node, list):
        return [_resolve(doc, n, seen) for n in node]
    if not isinstance(node, dict):
        return {} if node is None else node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            return {}
        target: Any = doc
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        return _resolve(doc, target, seen | {ref})
    out = {k: _resolve(doc, v, seen) for k, v in node.items() if k != "example"}
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if "properties" in out:
        out["properties"] = {
            k: (v if isinstance(v, dict) else {}) for k, v in out["properties"].items()
        }
    return out


def _relax(schema: Any) -> Any:
    """Apply fixes 2 and 3 throughout a schema."""
    if isinstance(schema, dict):
        schema = {k: _relax(v) for k, v in schema.items()}
        props = schema.get("properties")
        if isinstance(props, dict):
            for key, sub in props.items():
                if isinstance(sub, dict) and key in MONEY and sub.get("type") == "integer":
                    sub["type"] = "number"
                if (
                    isinstance(sub, dict)
                    and key in STRING_OR_NUMBER
                    and sub.get("type") == "string"
                ):
                    sub["type"] = ["string", "number"]
        return schema
    if isinstance(schema, list):
        return [_relax(v) for v in schema]
    return schema


def response_schema(
    product: str, name: str, spec_path: str, spec_key: str, our_key: str,
    *, method: str = "get", status: str = "200",
) -> dict[str, Any]:
    """Return the schema of an operation's answer (GET 200 unless told), with the fixes."""
    doc = _document(product, name)
    op = doc["paths"][spec_path][method]
    schema = _resolve(doc, op["responses"][status]["content"]["application/json"]["schema"])
    schema = _relax(copy.deepcopy(schema))
    props = schema["properties"]
    payload = props.pop(spec_key)
    if spec_key == "salesorder" and payload.get("type") == "array":  # fix 4
        payload = payload["items"]
    if our_key in ("creditnotes",) and payload.get("type") == "object":  # fix 5
        payload = {"type": "array", "items": payload}
    props[our_key] = payload  # fix 1 renames customer_payments
    context = props.get("page_context")
    if isinstance(context, dict) and context.get("type") == "array":  # fix 6
        props["page_context"] = {
            **context,
            "type": "object",
            "properties": context["items"]["properties"],
        }
        props["page_context"].pop("items")
    assert isinstance(schema, dict)
    return schema


async def _fetch(sim: Sim, product: str, api_path: str) -> Any:
    prefix = "/books/v3" if product == "books" else "/inventory/v1"
    store = sim.state.store
    params: dict[str, str] = {}
    if "{id}" in api_path:
        table = api_path.split("/")[1]
        records = store.table(table).records
        # A record with lines and, for items, an image, so optional parts are validated too.
        rid = next((r.id for r in records.values() if r.data.get("image_id")), next(iter(records)))
        api_path = api_path.replace("{id}", rid)
    if api_path == "/itemdetails":
        params["item_ids"] = ",".join(list(store.table("items").records)[:5])
    org = not api_path.startswith("/organizations")
    status, body, _ = await sim.call(api_path, params, prefix=prefix, org=org)
    assert status == 200, body
    return body


@pytest.mark.parametrize(
    ("product", "name", "api_path", "spec_path", "spec_key", "our_key", "id_field"),
    CASES,
    ids=[f"{c[0]}:{c[2]}" for c in CASES],
)
async def test_response_matches_openapi_copy(
    sim: Sim,
    product: str,
    name: str,
    api_path: str,
    spec_path: str,
    spec_key: str,
    our_key: str,
    id_field: str,
) -> None:
    schema = response_schema(product, name, spec_path, spec_key, our_key)
    payload_schema = schema["properties"][our_key]
    record_schema = payload_schema.get("items", payload_schema)
    assert id_field in record_schema["properties"], "the schema would not check the record"
    body = await _fetch(sim, product, api_path)
    errors = sorted(Draft7Validator(schema).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    # A control: the same schema rejects a record whose id is a number.
    broken = copy.deepcopy(body)
    target = broken[our_key][0] if isinstance(broken[our_key], list) else broken[our_key]
    target[id_field] = 123
    assert not Draft7Validator(schema).is_valid(broken)
