"""Read models of Zoho documents: sales orders, invoices, credit notes and bills with their
lines; customer and vendor payments with the documents they apply to."""

from __future__ import annotations

from projections.model import Child, Column, ReadModel, columns

_LINE = columns(
    "line_item_id, item_id, sku, name, description, quantity:numeric, rate:numeric, "
    "discount:numeric, tax_id, item_total:numeric, location_id")
_APPLICATION = columns("document_id, document_number, amount_applied:numeric")
_TAIL = columns("location_id, created_at:timestamptz, modified_at:timestamptz")


def _head(number: str, party: str) -> tuple[Column, ...]:
    return columns(
        f"{number}, {party}_id, {party}_name, status, date:date, reference_number, "
        "currency_code")


SALES_ORDERS = ReadModel(
    name="sales_orders",
    table="sales_orders",
    id_column="salesorder_id",
    entity_types=("salesorder",),
    columns=(*_head("salesorder_number", "customer"),
             *columns("shipment_date:date, sub_total:numeric, total:numeric"), *_TAIL),
    children=(Child("sales_order_lines", "line_items", _LINE),),
)

INVOICES = ReadModel(
    name="invoices",
    table="invoices",
    id_column="invoice_id",
    entity_types=("invoice",),
    columns=(*_head("invoice_number", "customer"),
             *columns("due_date:date, sub_total:numeric, tax_total:numeric, total:numeric, "
                      "balance:numeric"), *_TAIL),
    children=(Child("invoice_lines", "line_items", _LINE),),
)

CREDIT_NOTES = ReadModel(
    name="credit_notes",
    table="credit_notes",
    id_column="creditnote_id",
    entity_types=("creditnote",),
    columns=(*_head("creditnote_number", "customer"),
             *columns("total:numeric, balance:numeric"), *_TAIL),
    children=(Child("credit_note_lines", "line_items", _LINE),),
)

CUSTOMER_PAYMENTS = ReadModel(
    name="customer_payments",
    table="customer_payments",
    id_column="payment_id",
    entity_types=("customerpayment",),
    columns=(*_head("payment_number", "customer"),
             *columns("payment_mode, amount:numeric, unused_amount:numeric"), *_TAIL),
    children=(Child("customer_payment_applications", "invoices", _APPLICATION),),
)

BILLS = ReadModel(
    name="bills",
    table="bills",
    id_column="bill_id",
    entity_types=("bill",),
    columns=(*_head("bill_number", "vendor"),
             *columns("due_date:date, sub_total:numeric, total:numeric, balance:numeric"),
             *_TAIL),
    children=(Child("bill_lines", "line_items", _LINE),),
)

VENDOR_PAYMENTS = ReadModel(
    name="vendor_payments",
    table="vendor_payments",
    id_column="payment_id",
    entity_types=("vendorpayment",),
    columns=(*_head("payment_number", "vendor"),
             *columns("payment_mode, amount:numeric, balance:numeric"), *_TAIL),
    children=(Child("vendor_payment_applications", "bills", _APPLICATION),),
)
