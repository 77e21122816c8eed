"""Customer and vendor payments, with the documents each is applied to."""

from __future__ import annotations

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
    rows,
)
from streams.fields import Fields


def _applications(array: str, id_field: str, number_field: str
                  ) -> tuple[str, Any, Any]:
    """The CUSTOM entry reading `array`'s documents (`tds.Application`)."""
    row = compile_plan("application", (
        ("document_id", REQUIRED_TEXT, id_field),
        ("document_number", TEXT, number_field),
        ("amount_applied", REQUIRED_DECIMAL, "amount_applied"),
    ))

    def applied(fields: Fields) -> list[Record]:
        return rows(fields, array, row)

    return (array, CUSTOM, applied)


def _payment(party: str) -> tuple[tuple[Any, ...], ...]:
    return (
        ("payment_id", REQUIRED_TEXT, "payment_id"),
        ("payment_number", TEXT, "payment_number"),
        (f"{party}_id", TEXT, f"{party}_id"),
        (f"{party}_name", TEXT, f"{party}_name"),
        ("status", TEXT, "status"),
        ("date", DATE, "date"),
        ("reference_number", TEXT, "reference_number"),
        ("currency_code", TEXT, "currency_code"),
        ("payment_mode", TEXT, "payment_mode"),
        ("amount", DECIMAL, "amount"),
    )


customerpayment = compile_plan("customerpayment", (
    *_payment("customer"),
    ("unused_amount", DECIMAL, "unused_amount"),
    ("location_id", TEXT, "location_id"),
    _applications("invoices", "invoice_id", "invoice_number"),
    *STAMPS,
))
"""A customer payment (`tds.CustomerPayment`)."""

vendorpayment = compile_plan("vendorpayment", (
    *_payment("vendor"),
    ("balance", DECIMAL, "balance"),
    ("location_id", TEXT, "location_id"),
    _applications("bills", "bill_id", "bill_number"),
    *STAMPS,
))
"""A vendor payment (`tds.VendorPayment`)."""
