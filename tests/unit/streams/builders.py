"""Raw events and Zoho records for stream tests (shared by unit, property and integration)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from schemas.events import RawEvent
from schemas.zoho_payload import ID_FIELDS

ORG = "20077551234"
T0 = datetime(2025, 11, 13, 7, 0, tzinfo=UTC)
BAGHDAD = timezone(timedelta(hours=3))
FIXTURES = Path(__file__).parent / "fixtures"
# Fixture file (rendered by the simulator) of each entity type.
FIXTURE_OF = {
    "item": "items", "contact": "contacts", "salesorder": "salesorders",
    "invoice": "invoices", "customerpayment": "customerpayments",
    "creditnote": "creditnotes", "bill": "bills", "vendorpayment": "vendorpayments",
    "location": "locations",
}


def fixture(name: str) -> dict[str, Any]:
    """A record as the simulator's GET returns it."""
    record: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return record


def zoho_time(when: datetime) -> str:
    """A Zoho timestamp in the organisation's offset, no colon: 2025-11-13T10:00:00+0300."""
    return when.astimezone(BAGHDAD).strftime("%Y-%m-%dT%H:%M:%S%z")


def item(item_id: str = "1", *, name: str = "Bag", modified: datetime = T0,
         **fields: Any) -> dict[str, Any]:
    """A small Zoho item record."""
    return {"item_id": item_id, "name": name, "sku": f"SKU-{item_id}", "rate": 6.0,
            "stock_on_hand": 50, "status": "active", "last_modified_time": zoho_time(modified),
            "created_time": zoho_time(T0 - timedelta(days=30)), **fields}


def raw(entity_type: str, record: dict[str, Any] | None = None, *, body: bytes | None = None,
        source: str = "webhook", kind: str = "edited", received: datetime = T0,
        run: str | None = None, entity_id: str | None = None,
        content_type: str = "application/json",
        attributes: dict[str, str] | None = None) -> RawEvent:
    """A raw event; webhooks wrap the record under its entity key, polls send it plain."""
    if body is None:
        assert record is not None
        body = orjson.dumps({entity_type: record} if source == "webhook" else record)
    if entity_id is None and record is not None:
        entity_id = str(record.get(ID_FIELDS[entity_type], "")) or None
    return RawEvent(event_id=str(uuid.uuid4()), source=source, org_id=ORG,
                    entity_type=entity_type, entity_id=entity_id, event_kind=kind,
                    received_at=received, body=body, content_type=content_type,
                    signature_verified=True, sync_run_id=run, attributes=attributes or {})


def key(entity_type: str, entity_id: str) -> bytes:
    """The Kafka key of a record."""
    return f"{ORG}:{entity_type}:{entity_id}".encode()
