"""Raw events for the benchmark: realistic records of every entity type, unique ids."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from schemas.events import RawEvent
from schemas.topics import entity_key
from schemas.zoho_payload import ID_FIELDS

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "unit" / "streams" / "fixtures"
ORG = "20077551234"
# Entity type → fixture, weighted like a full sync (items and documents dominate).
MIX = [("item", "items"), ("item", "items_warehouses"), ("contact", "contacts"),
       ("salesorder", "salesorders"), ("invoice", "invoices"),
       ("customerpayment", "customerpayments"), ("creditnote", "creditnotes"),
       ("bill", "bills"), ("vendorpayment", "vendorpayments"), ("item", "items")]
T0 = datetime(2025, 11, 13, tzinfo=UTC)


def _fixtures() -> list[tuple[str, dict[str, Any]]]:
    return [(entity, json.loads((FIXTURES / f"{name}.json").read_text())) for entity, name in MIX]


def events(count: int, *, run_id: str | None = None, seed: str = "") -> Iterator[
        tuple[bytes, bytes]]:
    """(key, value) of `count` polled snapshots, each a different record."""
    bases = _fixtures()
    tag = seed or uuid.uuid4().hex[:6]
    for n in range(count):
        entity, base = bases[n % len(bases)]
        record = copy.deepcopy(base)
        entity_id = f"{9_000_000 + n}{tag}"
        record[ID_FIELDS[entity]] = entity_id
        record["last_modified_time"] = (T0 + timedelta(seconds=n)).strftime(
            "%Y-%m-%dT%H:%M:%S+0000")
        event = RawEvent(event_id=str(uuid.uuid4()), source="poll.full", org_id=ORG,
                         entity_type=entity, entity_id=entity_id, event_kind="snapshot",
                         received_at=T0 + timedelta(days=1), body=orjson.dumps(record),
                         content_type="application/json", signature_verified=False,
                         sync_run_id=run_id)
        yield entity_key(ORG, entity, entity_id), event.encode()
