"""Synthetic `tds.entity.synced` traffic: realistic records of every entity type, seeded.

Used by the projector benchmark and the projection tests. `stream()` yields upserts and
deletes of a fixed key space with increasing versions per key, the way the streams stage
emits them (each newer than the last, deletes keep a version).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from schemas.events import ENTITY_TYPES, EntitySynced
from schemas.topics import entity_key

ORG = "60012345"
_T0 = datetime(2025, 1, 1, tzinfo=UTC)
# How often each entity type shows up in live traffic (stock and items dominate).
MIX: dict[str, int] = {
    "item": 30, "stock": 25, "contact": 10, "salesorder": 10, "invoice": 10,
    "customerpayment": 4, "creditnote": 2, "bill": 5, "vendorpayment": 2, "location": 2,
}


def _money(rng: random.Random, hi: int = 5000) -> Decimal:
    return Decimal(rng.randint(0, hi * 100)) / 100


def _levels(rng: random.Random, count: int) -> list[dict[str, Any]]:
    return [{
        "location_id": f"loc{n}", "location_name": f"Warehouse {n}", "location_kind": "location",
        "stock_on_hand": Decimal(rng.randint(0, 500)),
        "available_stock": Decimal(rng.randint(0, 500)),
        "actual_available_stock": Decimal(rng.randint(0, 500)),
        "committed_stock": Decimal(rng.randint(0, 50)),
    } for n in range(count)]


def _lines(rng: random.Random, count: int) -> list[dict[str, Any]]:
    return [{
        "line_item_id": f"li{n}", "item_id": f"{rng.randint(1, 5000)}", "sku": f"SKU-{n}",
        "name": f"Part {n}", "description": None, "quantity": Decimal(rng.randint(1, 20)),
        "rate": _money(rng, 200), "discount": None, "tax_id": None,
        "item_total": _money(rng), "location_id": "loc0",
    } for n in range(count)]


def record(entity_type: str, entity_id: str, rng: random.Random, at: datetime) -> dict[str, Any]:
    """A plausible normalised record of `entity_type`."""
    common = {"created_at": _T0, "modified_at": at}
    day = date(2025, 1, 1) + timedelta(days=rng.randint(0, 400))
    if entity_type == "item":
        return {"item_id": entity_id, "name": f"Item {entity_id}", "sku": f"SKU-{entity_id}",
                "status": rng.choice(["active", "inactive"]), "item_type": "inventory",
                "product_type": "goods", "unit": "pcs", "description": "A part",
                "rate": _money(rng), "purchase_rate": _money(rng), "stock_on_hand": _money(rng),
                "available_stock": _money(rng), "actual_available_stock": _money(rng),
                "reorder_level": Decimal(5), "image_id": f"img{rng.randint(1, 3)}",
                "image_name": "photo.jpg", "image_type": "jpg",
                "stock": _levels(rng, rng.choice([0, 2])), **common}
    if entity_type == "stock":
        return {"item_id": entity_id, "sku": f"SKU-{entity_id}", "stock_on_hand": _money(rng),
                "available_stock": _money(rng), "actual_available_stock": _money(rng),
                "levels": _levels(rng, rng.randint(1, 3)), **common}
    if entity_type == "location":
        return {"location_id": entity_id, "location_name": f"Location {entity_id}",
                "kind": "location", "location_type": "general", "parent_location_id": None,
                "is_primary": entity_id == "1", "status": "active", **common}
    if entity_type == "contact":
        return {"contact_id": entity_id, "contact_name": f"Contact {entity_id}",
                "company_name": "ACME", "contact_type": rng.choice(["customer", "vendor"]),
                "status": "active", "email": f"c{entity_id}@example.com", "phone": "555",
                "mobile": None, "currency_code": "USD", "payment_terms": 30,
                "outstanding_receivable_amount": _money(rng),
                "outstanding_payable_amount": _money(rng), **common}
    if entity_type in ("salesorder", "invoice", "creditnote", "bill"):
        party = "vendor" if entity_type == "bill" else "customer"
        doc = {f"{entity_type}_id": entity_id, f"{entity_type}_number": f"N-{entity_id}",
               f"{party}_id": str(rng.randint(1, 500)), f"{party}_name": "ACME",
               "status": "open", "date": day, "reference_number": None,
               "currency_code": "USD", "sub_total": _money(rng), "total": _money(rng),
               "location_id": "loc0", "line_items": _lines(rng, rng.randint(1, 4)), **common}
        if entity_type == "salesorder":
            doc["shipment_date"] = day
        if entity_type in ("invoice", "bill"):
            doc["due_date"] = day
            doc["balance"] = _money(rng)
        if entity_type == "invoice":
            doc["tax_total"] = _money(rng, 100)
        if entity_type == "creditnote":
            doc.pop("sub_total")
            doc["balance"] = _money(rng)
        return doc
    if entity_type in ("customerpayment", "vendorpayment"):
        party = "vendor" if entity_type == "vendorpayment" else "customer"
        field = "bills" if entity_type == "vendorpayment" else "invoices"
        pay = {"payment_id": entity_id, "payment_number": f"P-{entity_id}",
               f"{party}_id": str(rng.randint(1, 500)), f"{party}_name": "ACME",
               "status": "paid", "date": day, "reference_number": None, "currency_code": "USD",
               "payment_mode": "cash", "amount": _money(rng), "location_id": None,
               field: [{"document_id": str(rng.randint(1, 9000)), "document_number": "N-1",
                        "amount_applied": _money(rng)} for _ in range(rng.randint(1, 2))],
               **common}
        pay["unused_amount" if party == "customer" else "balance"] = _money(rng, 10)
        return pay
    raise ValueError(f"unknown entity type {entity_type!r}")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError


def event(
    entity_type: str,
    entity_id: str,
    *,
    at: datetime,
    offset: int,
    op: str = "upsert",
    rng: random.Random | None = None,
    org_id: str = ORG,
) -> EntitySynced:
    """One `EntitySynced` of version (at, offset); deletes carry no record."""
    rng = rng or random.Random(f"{entity_type}:{entity_id}:{offset}")
    rec = record(entity_type, entity_id, rng, at) if op == "upsert" else None
    raw = orjson.dumps(rec, default=_json_default).decode() if rec is not None else None
    digest = hashlib.sha256((raw or "deleted").encode()).hexdigest()
    return EntitySynced(
        event_id=str(uuid.UUID(int=rng.getrandbits(128))), op=op, org_id=org_id,
        entity_type=entity_type, entity_id=entity_id, version_modified_at=at,
        version_offset=offset, version_source="zoho.raw.bulk", content_hash=digest,
        source="poll.full", sync_run_id=None, synced_at=at + timedelta(seconds=1),
        record=rec, raw_json=raw,
    )


@dataclass(frozen=True, slots=True)
class Workload:
    """A seeded stream shape: `keys` records per type, deletes with `delete_rate`."""

    keys: int = 1000
    delete_rate: float = 0.03
    seed: int = 7
    types: tuple[str, ...] = ENTITY_TYPES

    def stream(self, count: int) -> Iterator[tuple[bytes, EntitySynced]]:
        """`count` (key, event) pairs; versions grow per record as Zoho's would."""
        rng = random.Random(self.seed)
        weights = [MIX.get(t, 1) for t in self.types]
        clock: dict[tuple[str, str], int] = {}
        for offset in range(count):
            entity_type = rng.choices(self.types, weights)[0]
            entity_id = str(rng.randint(1, self.keys))
            tick = clock.get((entity_type, entity_id), 0) + rng.randint(1, 5)
            clock[(entity_type, entity_id)] = tick
            op = "delete" if rng.random() < self.delete_rate else "upsert"
            at = _T0 + timedelta(seconds=tick)
            yield (entity_key(ORG, entity_type, entity_id),
                   event(entity_type, entity_id, at=at, offset=offset, op=op,
                         rng=random.Random(rng.getrandbits(64))))
