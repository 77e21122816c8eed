"""Customer and vendor payments, with the documents each is applied to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.fields import Fields

Record = dict[str, Any]


def _applications(f: Fields, array: str, id_field: str, number_field: str) -> list[Record]:
    applied = []
    for row in f.rows(array):
        line = Fields(row, f.entity_type)
        applied.append({
            "document_id": line.required_text(id_field),
            "document_number": line.text(number_field),
            "amount_applied": line.required_decimal("amount_applied"),
        })
    return applied


def _payment(f: Fields, party: str) -> Record:
    return {
        "payment_id": f.required_text("payment_id"),
        "payment_number": f.text("payment_number"),
        f"{party}_id": f.text(f"{party}_id"),
        f"{party}_name": f.text(f"{party}_name"),
        "status": f.text("status"),
        "date": f.date("date"),
        "reference_number": f.text("reference_number"),
        "currency_code": f.text("currency_code"),
        "payment_mode": f.text("payment_mode"),
        "amount": f.decimal("amount"),
    }


def customerpayment(record: Mapping[str, Any]) -> Record:
    """A customer payment (`tds.CustomerPayment`)."""
    f = Fields(record, "customerpayment")
    return {
        **_payment(f, "customer"),
        "unused_amount": f.decimal("unused_amount"),
        "location_id": f.text("location_id"),
        "invoices": _applications(f, "invoices", "invoice_id", "invoice_number"),
        "created_at": f.time("created_time"),
        "modified_at": f.time("last_modified_time", "updated_time"),
    }


def vendorpayment(record: Mapping[str, Any]) -> Record:
    """A vendor payment (`tds.VendorPayment`)."""
    f = Fields(record, "vendorpayment")
    return {
        **_payment(f, "vendor"),
        "balance": f.decimal("balance"),
        "location_id": f.text("location_id"),
        "bills": _applications(f, "bills", "bill_id", "bill_number"),
        "created_at": f.time("created_time"),
        "modified_at": f.time("last_modified_time", "updated_time"),
    }
