"""Contacts: customers and vendors (`tds.Contact`)."""

from __future__ import annotations

from streams.entities.plan import DECIMAL, INTEGER, REQUIRED_TEXT, STAMPS, TEXT, compile_plan

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
    *STAMPS,
))
"""A contact record."""
