"""Contacts: customers and vendors (`tds.Contact`)."""

from __future__ import annotations

from streams.entities.plan import DECIMAL, INTEGER, REQUIRED_TEXT, TEXT, TIME, compile_plan

contact = compile_plan("contact", (
    ("contact_id", REQUIRED_TEXT, "contact_id"),
    ("contact_name", REQUIRED_TEXT, "contact_name"),
    ("company_name", TEXT, "company_name"),
    ("contact_type", REQUIRED_TEXT, "contact_type"),
    ("status", TEXT, "status"),
    ("email", TEXT, "email"),
    ("phone", TEXT, "phone"),
    ("mobile", TEXT, "mobile"),
    ("currency_code", TEXT, "currency_code"),
    ("payment_terms", INTEGER, "payment_terms"),
    ("outstanding_receivable_amount", DECIMAL, "outstanding_receivable_amount"),
    ("outstanding_payable_amount", DECIMAL, "outstanding_payable_amount"),
    ("created_at", TIME, "created_time"),
    ("modified_at", TIME, "last_modified_time", "updated_time"),
))
"""A contact record."""
