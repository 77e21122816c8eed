"""Sales orders, invoices, credit notes and bills, with their line items."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from streams.fields import Fields

Record = dict[str, Any]
_SCALE = Decimal("0.000001")


def _discount(line: Fields) -> Decimal | None:
    amount = line.decimal("discount_amount")
    if amount is not None:
        return amount
    raw = line.record.get("discount")
    if isinstance(raw, str) and raw.strip().endswith("%"):
        return None  # a percentage, not an amount; the raw record keeps it
    return line.decimal("discount")


def line_items(fields: Fields) -> list[Record]:
    """`line_items[]` as `tds.LineItem`; a missing item_total is quantity × rate."""
    lines = []
    for row in fields.rows("line_items"):
        line = Fields(row, fields.entity_type)
        quantity = line.required_decimal("quantity")
        rate = line.required_decimal("rate")
        total = line.decimal("item_total")
        lines.append({
            "line_item_id": line.required_text("line_item_id"),
            "item_id": line.text("item_id"),
            "sku": line.text("sku"),
            "name": line.text("name"),
            "description": line.text("description"),
            "quantity": quantity,
            "rate": rate,
            "discount": _discount(line),
            "tax_id": line.text("tax_id"),
            "item_total": total if total is not None else (quantity * rate).quantize(_SCALE),
            "location_id": line.text("location_id", "warehouse_id"),
        })
    return lines


def _common(f: Fields, id_field: str, number_field: str, party: str) -> Record:
    return {
        id_field: f.required_text(id_field),
        number_field: f.text(number_field),
        f"{party}_id": f.text(f"{party}_id"),
        f"{party}_name": f.text(f"{party}_name"),
        "status": f.text("status"),
        "date": f.date("date"),
        "reference_number": f.text("reference_number"),
        "currency_code": f.text("currency_code"),
    }


def _tail(f: Fields) -> Record:
    return {
        "location_id": f.text("location_id", "warehouse_id"),
        "line_items": line_items(f),
        "created_at": f.time("created_time"),
        "modified_at": f.time("last_modified_time", "updated_time"),
    }


def salesorder(record: Mapping[str, Any]) -> Record:
    """A sales order (`tds.SalesOrder`)."""
    f = Fields(record, "salesorder")
    return {
        **_common(f, "salesorder_id", "salesorder_number", "customer"),
        "shipment_date": f.date("shipment_date"),
        "sub_total": f.decimal("sub_total"),
        "total": f.decimal("total"),
        **_tail(f),
    }


def invoice(record: Mapping[str, Any]) -> Record:
    """An invoice (`tds.Invoice`)."""
    f = Fields(record, "invoice")
    return {
        **_common(f, "invoice_id", "invoice_number", "customer"),
        "due_date": f.date("due_date"),
        "sub_total": f.decimal("sub_total"),
        "tax_total": f.decimal("tax_total"),
        "total": f.decimal("total"),
        "balance": f.decimal("balance"),
        **_tail(f),
    }


def creditnote(record: Mapping[str, Any]) -> Record:
    """A credit note (`tds.CreditNote`)."""
    f = Fields(record, "creditnote")
    return {
        **_common(f, "creditnote_id", "creditnote_number", "customer"),
        "total": f.decimal("total"),
        "balance": f.decimal("balance"),
        **_tail(f),
    }


def bill(record: Mapping[str, Any]) -> Record:
    """A vendor bill (`tds.Bill`)."""
    f = Fields(record, "bill")
    return {
        **_common(f, "bill_id", "bill_number", "vendor"),
        "due_date": f.date("due_date"),
        "sub_total": f.decimal("sub_total"),
        "total": f.decimal("total"),
        "balance": f.decimal("balance"),
        **_tail(f),
    }
