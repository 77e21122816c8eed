"""Contacts: customers and vendors (`tds.Contact`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.fields import Fields


def contact(record: Mapping[str, Any]) -> dict[str, Any]:
    """A contact record."""
    f = Fields(record, "contact")
    return {
        "contact_id": f.required_text("contact_id"),
        "contact_name": f.required_text("contact_name"),
        "company_name": f.text("company_name"),
        "contact_type": f.required_text("contact_type"),
        "status": f.text("status"),
        "email": f.text("email"),
        "phone": f.text("phone"),
        "mobile": f.text("mobile"),
        "currency_code": f.text("currency_code"),
        "payment_terms": f.integer("payment_terms"),
        "outstanding_receivable_amount": f.decimal("outstanding_receivable_amount"),
        "outstanding_payable_amount": f.decimal("outstanding_payable_amount"),
        "created_at": f.time("created_time"),
        "modified_at": f.time("last_modified_time", "updated_time"),
    }
