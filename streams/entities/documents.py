"""Sales orders, invoices, credit notes and bills, with their line items."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from streams.entities.plan import (
    CUSTOM,
    DATE,
    DECIMAL,
    REQUIRED_DECIMAL,
    REQUIRED_TEXT,
    STAMPS,
    TEXT,
    Record,
    compile_plan,
)
from streams.fields import Fields

_SCALE = Decimal("0.000001")


def _discount(line: Fields) -> Decimal | None:
    amount = line.decimal("discount_amount")
    if amount is not None:
        return amount
    raw = line.record.get("discount")
    if isinstance(raw, str) and raw.strip().endswith("%"):
        return None  # a percentage, not an amount; the raw record keeps it
    return line.decimal("discount")


# (quantity, rate and item_total first: the order the fields were always read in, so a
# row with several faults reports the same one)
_LINE = compile_plan("line_item", (
    ("quantity", REQUIRED_DECIMAL, "quantity"),
    ("rate", REQUIRED_DECIMAL, "rate"),
    ("item_total", DECIMAL, "item_total"),
    ("line_item_id", REQUIRED_TEXT, "line_item_id"),
    ("item_id", TEXT, "item_id"),
    ("sku", TEXT, "sku"),
    ("name", TEXT, "name"),
    ("description", TEXT, "description"),
    ("discount", CUSTOM, _discount),
    ("tax_id", TEXT, "tax_id"),
    ("location_id", TEXT, "location_id", "warehouse_id"),
))


def line_items(fields: Fields) -> list[Record]:
    """`line_items[]` as `tds.LineItem`; a missing item_total is quantity × rate."""
    lines = []
    for row in fields.rows("line_items"):
        line = _LINE(row, fields.entity_type)
        if line["item_total"] is None:
            line["item_total"] = (line["quantity"] * line["rate"]).quantize(_SCALE)
        lines.append(line)
    return lines


def _common(id_field: str, number_field: str, party: str) -> tuple[tuple[Any, ...], ...]:
    return (
        (id_field, REQUIRED_TEXT, id_field),
        (number_field, TEXT, number_field),
        (f"{party}_id", TEXT, f"{party}_id"),
        (f"{party}_name", TEXT, f"{party}_name"),
        ("status", TEXT, "status"),
        ("date", DATE, "date"),
        ("reference_number", TEXT, "reference_number"),
        ("currency_code", TEXT, "currency_code"),
    )


_TAIL: tuple[tuple[Any, ...], ...] = (
    ("location_id", TEXT, "location_id", "warehouse_id"),
    ("line_items", CUSTOM, line_items),
    *STAMPS,
)

salesorder = compile_plan("salesorder", (
    *_common("salesorder_id", "salesorder_number", "customer"),
    ("shipment_date", DATE, "shipment_date"),
    ("sub_total", DECIMAL, "sub_total"),
    ("total", DECIMAL, "total"),
    *_TAIL,
))
"""A sales order (`tds.SalesOrder`)."""

invoice = compile_plan("invoice", (
    *_common("invoice_id", "invoice_number", "customer"),
    ("due_date", DATE, "due_date"),
    ("sub_total", DECIMAL, "sub_total"),
    ("tax_total", DECIMAL, "tax_total"),
    ("total", DECIMAL, "total"),
    ("balance", DECIMAL, "balance"),
    *_TAIL,
))
"""An invoice (`tds.Invoice`)."""

creditnote = compile_plan("creditnote", (
    *_common("creditnote_id", "creditnote_number", "customer"),
    ("total", DECIMAL, "total"),
    ("balance", DECIMAL, "balance"),
    *_TAIL,
))
"""A credit note (`tds.CreditNote`)."""

bill = compile_plan("bill", (
    *_common("bill_id", "bill_number", "vendor"),
    ("due_date", DATE, "due_date"),
    ("sub_total", DECIMAL, "sub_total"),
    ("total", DECIMAL, "total"),
    ("balance", DECIMAL, "balance"),
    *_TAIL,
))
"""A vendor bill (`tds.Bill`)."""
