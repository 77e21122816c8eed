"""One normaliser per entity type: a Zoho record → the typed record of entity_synced.v1."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from schemas.zoho_payload import ID_FIELDS
from streams.entities import contacts, documents, items, payments, places
from streams.errors import InvalidEvent

Normaliser = Callable[[Mapping[str, Any]], dict[str, Any]]

NORMALISERS: dict[str, Normaliser] = {
    "item": items.item,
    "stock": items.stock,
    "location": places.location,
    "contact": contacts.contact,
    "salesorder": documents.salesorder,
    "invoice": documents.invoice,
    "creditnote": documents.creditnote,
    "bill": documents.bill,
    "customerpayment": payments.customerpayment,
    "vendorpayment": payments.vendorpayment,
}
# The field of each normalised record that holds the Zoho id.
RECORD_ID = {**ID_FIELDS, "location": "location_id"}


def normalise(entity_type: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """The typed record for `entity_type`; InvalidEvent when the record cannot be one."""
    try:
        normaliser = NORMALISERS[entity_type]
    except KeyError:
        raise InvalidEvent(f"unknown entity type {entity_type!r}") from None
    return normaliser(record)
