"""Zoho's validation of write bodies, and applying a valid body to a stored record.

Error codes: 2 ("Invalid value passed for X"), 1002 ("X does not exist.") and 1038 ("JSON
is not well formed") are in the facts (2.3). The facts give no code for a missing mandatory
field or a duplicate SKU or document number (7b says only "a non-zero code and a message
naming the problem"): UNCONFIRMED, so we answer HTTP 400 with code 4 for a missing field and
1001 for a duplicate, Zoho's usual neighbours of code 2 and 1002; clients should key on the
HTTP status and a non-zero code, not on these numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from simulator.entities import ENTITIES
from simulator.errors import ZohoError, invalid_value
from simulator.factories import PAYMENT_MODES
from simulator.ids import line_id
from simulator.masters import money, recompute, sync_stock
from simulator.store import Line, Record, Store

MISSING_CODE = 4  # UNCONFIRMED (see the module docstring)
DUPLICATE_CODE = 1001  # UNCONFIRMED (see the module docstring)
Body = dict[str, Any]


def parse_body(raw: bytes, content_type: str, form: Mapping[str, str]) -> Body:
    """The JSON body, or the legacy form field JSONString (facts 1.6); else code 1038."""
    text: bytes | str = raw
    if content_type == "application/x-www-form-urlencoded":
        if "JSONString" not in form:
            raise ZohoError(400, 1038, "JSON is not well formed")
        text = form["JSONString"]
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ZohoError(400, 1038, "JSON is not well formed") from None
    if not isinstance(body, dict):
        raise ZohoError(400, 1038, "JSON is not well formed")
    return body


def missing(field: str) -> ZohoError:
    """A mandatory field left out."""
    return ZohoError(400, MISSING_CODE, f"{field} is mandatory. Please enter a value for {field}.")


def duplicate(what: str, value: str) -> ZohoError:
    """A SKU or document number another live record already has."""
    return ZohoError(400, DUPLICATE_CODE, f'{what} "{value}" already exists.')


def does_not_exist(label: str) -> ZohoError:
    """A referenced record that is not there (the facts' 1002)."""
    return ZohoError(404, 1002, f"{label} does not exist.")


def _text(body: Body, key: str) -> str:
    value = body[key]
    if not isinstance(value, str):
        raise invalid_value(key)
    return value


def _number(body: Body, key: str) -> float:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise invalid_value(key)
    try:
        return float(value)
    except ValueError:
        raise invalid_value(key) from None


def _date(body: Body, key: str) -> str:
    value = _text(body, key)
    parts = value.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
        raise invalid_value(key)
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[Body, str], str]:
    def check(body: Body, key: str) -> str:
        value = _text(body, key)
        if value not in choices:
            raise invalid_value(key)
        return value

    return check


# Per entity, the modelled fields a write may set and how each is checked. Other keys of
# Zoho's request schemas (notes, custom_fields, templates ...) are accepted and not
# modelled, as Zoho ignores keys it does not know.
_SCALARS: dict[str, dict[str, Callable[[Body, str], Any]]] = {
    "items": {
        "name": _text, "sku": _text, "rate": _number, "purchase_rate": _number, "unit": _text,
        "description": _text, "purchase_description": _text, "reorder_level": _number,
        "brand": _text, "manufacturer": _text,
        "item_type": _choice(("inventory", "sales", "purchases", "sales_and_purchases")),
        "product_type": _choice(("goods", "service", "digital_service")),
    },
    "contacts": {
        "contact_name": _text, "company_name": _text, "email": _text, "phone": _text,
        "mobile": _text, "first_name": _text, "last_name": _text, "website": _text,
        "contact_type": _choice(("customer", "vendor")),
    },
    "salesorders": {
        "salesorder_number": _text, "reference_number": _text, "date": _date,
        "shipment_date": _date, "salesperson_name": _text, "delivery_method": _text,
    },
    "invoices": {
        "invoice_number": _text, "reference_number": _text, "date": _date, "due_date": _date,
        "salesperson_name": _text,
    },
    "customerpayments": {
        "reference_number": _text, "date": _date, "description": _text, "amount": _number,
        "payment_mode": _choice(PAYMENT_MODES),
    },
}
# Mandatory on create: the union of the Books and Inventory request schemas' `required`,
# less what Zoho fills in itself (document numbers are auto-generated).
REQUIRED: dict[str, tuple[str, ...]] = {
    "items": ("name",),
    "contacts": ("contact_name",),
    "salesorders": ("customer_id", "line_items"),
    "invoices": ("customer_id", "line_items"),
    "customerpayments": ("customer_id", "payment_mode", "amount"),
}
# The unique value each entity keeps, and how Zoho names it in the refusal.
UNIQUE = {
    "items": ("sku", "SKU"),
    "salesorders": ("salesorder_number", "Sales Order Number"),
    "invoices": ("invoice_number", "Invoice Number"),
}


class Writer:
    """Checks write bodies against the live store and applies them to records."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def check_required(self, path: str, body: Body, *, creating: bool) -> None:
        """Refuse a create that leaves a mandatory field out, or an update that empties one
        (code 4, UNCONFIRMED)."""
        for key in REQUIRED[path]:
            if (creating or key in body) and body.get(key) in (None, "", []):
                raise missing(key)

    def apply(self, path: str, rec: Record, body: Body) -> None:
        """Check every modelled field of `body`, then set them all (nothing on a refusal)."""
        values = {k: check(body, k) for k, check in _SCALARS[path].items() if k in body}
        unique = UNIQUE.get(path)
        if unique and values.get(unique[0]):
            self._unique(path, rec, unique, values[unique[0]])
        party = self._customer(body) if "customer_id" in body else None
        lines = self._lines(path, rec, body["line_items"]) if "line_items" in body else None
        refs = self._payment_refs(body["invoices"]) if "invoices" in body else None
        rec.data.update(values)
        if path == "contacts" and "contact_name" in values:
            rec.data["customer_name"] = rec.data["vendor_name"] = values["contact_name"]
        if party is not None:
            rec.data.update(customer_id=party.id, customer_name=party.data["contact_name"])
        if lines is not None:
            rec.lines = lines
            if path == "salesorders":
                rec.data["quantity"] = sum(line.quantity for line in lines)
            recompute(rec)
        if refs is not None:
            rec.refs = refs
            numbers = ", ".join(f"INV-{seq + 1:06d}" for seq, _ in refs)
            rec.data.update(invoice_numbers=numbers, invoice_number=numbers)
        if path == "customerpayments" and "amount" in values:
            rec.data["amount"] = money(values["amount"])
            rec.data["bcy_amount"] = f"{rec.data['amount']:.2f}"
        if path == "items" and rec.stock is not None:
            sync_stock(rec)

    def _unique(self, path: str, rec: Record, unique: tuple[str, str], value: str) -> None:
        field, label = unique
        wanted = value.strip().lower()  # Zoho compares SKUs and numbers case-insensitively
        for other in self.store.table(path).records.values():
            if other is not rec and str(other.data.get(field, "")).strip().lower() == wanted:
                raise duplicate(label, value)

    def _customer(self, body: Body) -> Record:
        contact = self.store.table("contacts").records.get(_text(body, "customer_id"))
        if contact is None or contact.data["contact_type"] != "customer":
            raise invalid_value("customer_id")
        return contact

    def site_index(self, body: Mapping[str, Any]) -> int:
        """The stock position of a line's location_id (or legacy warehouse_id); 0 when absent."""
        wanted = body.get("location_id") or body.get("warehouse_id")
        if not wanted:
            return 0
        for index, site in enumerate(self.store.sites):
            if site.id == wanted:
                return index
        raise invalid_value("location_id" if body.get("location_id") else "warehouse_id")

    def item_of(self, body: Mapping[str, Any]) -> Record:
        """The live item a line names."""
        item_id = body.get("item_id")
        if not isinstance(item_id, str) or not item_id:
            raise missing("item_id")
        item = self.store.table("items").records.get(item_id)
        if item is None:
            raise does_not_exist("Item")
        return item

    def _lines(self, path: str, rec: Record, raw: Any) -> list[Line]:
        if not isinstance(raw, list) or not raw:
            raise invalid_value("line_items")
        kept = {line.line_item_id: line for line in rec.lines or []}
        lines = []
        for entry in raw:
            if not isinstance(entry, dict):
                raise invalid_value("line_items")
            item = self.item_of(entry)
            quantity = _number(entry, "quantity") if "quantity" in entry else 1.0
            rate = _number(entry, "rate") if "rate" in entry else float(item.data["rate"])
            if quantity <= 0:
                raise invalid_value("quantity")
            line_item_id = entry.get("line_item_id")
            if line_item_id not in kept:  # no id (or an unknown one): a new line
                line_item_id = line_id(self.store.prefix, path, rec.seq, rec.next_line)
                rec.next_line += 1
            lines.append(Line(str(line_item_id), item.seq, quantity, money(rate),
                              self.site_index(entry)))
        return lines

    def _payment_refs(self, raw: Any) -> list[tuple[int, float]]:
        if not isinstance(raw, list):
            raise invalid_value("invoices")
        refs = []
        invoices = self.store.table("invoices").records
        for entry in raw:
            if not isinstance(entry, dict) or "amount_applied" not in entry:
                raise invalid_value("invoices")
            invoice = invoices.get(str(entry.get("invoice_id", "")))
            if invoice is None:
                raise does_not_exist(ENTITIES["invoices"].label)
            refs.append((invoice.seq, money(_number(entry, "amount_applied"))))
        return refs
