"""Each entity type normalises (simulator-rendered GET bodies) into a valid Avro record."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from schemas.events import EntitySynced, decode_event
from streams.entities import NORMALISERS, RECORD_ID, normalise
from streams.errors import InvalidEvent
from tests.unit.streams.builders import FIXTURE_OF, fixture

NOW = datetime(2025, 11, 13, tzinfo=UTC)


def _round_trip(entity_type: str, record: dict[str, Any]) -> dict[str, Any]:
    event = EntitySynced(event_id="e", op="upsert", org_id="1", entity_type=entity_type,
                         entity_id=record[RECORD_ID[entity_type]], version_modified_at=NOW,
                         version_offset=1, version_source="t", content_hash="h",
                         source="webhook", sync_run_id=None, synced_at=NOW, record=record,
                         raw_json="{}")
    back = decode_event(event.encode())
    assert isinstance(back, EntitySynced) and back.record is not None
    return dict(back.record)


@pytest.mark.parametrize("entity_type", sorted(FIXTURE_OF))
def test_every_fixture_normalises_and_encodes(entity_type: str) -> None:
    record = normalise(entity_type, fixture(FIXTURE_OF[entity_type]))
    back = _round_trip(entity_type, record)
    assert back == record
    assert back["modified_at"] is not None and back["modified_at"].tzinfo is not None


def test_every_entity_type_has_a_normaliser() -> None:
    from schemas.events import ENTITY_TYPES

    assert set(NORMALISERS) == set(ENTITY_TYPES)


def test_locations_and_warehouses_give_one_stock_model() -> None:
    new = normalise("item", fixture("items"))
    old = normalise("item", fixture("items_warehouses"))
    assert [s["location_kind"] for s in new["stock"]] == ["location"] * len(new["stock"])
    assert [s["location_kind"] for s in old["stock"]] == ["warehouse"] * len(old["stock"])
    shape_only = {"location_kind", "committed_stock"}  # locations[] carries no committed stock
    strip = [{k: v for k, v in s.items() if k not in shape_only} for s in new["stock"]]
    assert strip == [{k: v for k, v in s.items() if k not in shape_only} for s in old["stock"]]
    assert all(isinstance(s["stock_on_hand"], Decimal) for s in new["stock"])


def test_stock_snapshot_reads_the_item_json() -> None:
    stock = normalise("stock", fixture("items_warehouses"))
    assert stock["item_id"] == fixture("items")["item_id"]
    assert stock["levels"] and stock["levels"][0]["location_kind"] == "warehouse"
    assert _round_trip("stock", stock) == stock


def test_amounts_are_decimals_and_times_utc() -> None:
    invoice = normalise("invoice", fixture("invoices"))
    assert isinstance(invoice["total"], Decimal)
    assert invoice["modified_at"].utcoffset().total_seconds() == 0
    line = invoice["line_items"][0]
    assert line["item_total"] == (line["quantity"] * line["rate"]).quantize(Decimal("0.01"))


def test_line_item_total_defaults_to_quantity_times_rate() -> None:
    order = {"salesorder_id": "9", "line_items": [
        {"line_item_id": "l1", "quantity": "3", "rate": 2.5, "discount": "10%"}]}
    line = normalise("salesorder", order)["line_items"][0]
    assert (line["item_total"], line["discount"]) == (Decimal("7.5"), None)


def test_payments_keep_their_applications() -> None:
    payment = normalise("customerpayment", fixture("customerpayments"))
    assert payment["invoices"] and payment["invoices"][0]["document_id"]
    vendor = normalise("vendorpayment", fixture("vendorpayments"))
    assert vendor["bills"][0]["amount_applied"] > 0
    assert isinstance(vendor["payment_number"], str)  # Zoho sends an int here


def test_legacy_warehouse_record_is_a_location_of_kind_warehouse() -> None:
    location = normalise("location", {"warehouse_id": "7", "warehouse_name": "Main",
                                      "is_primary": "true"})
    assert (location["location_id"], location["kind"], location["is_primary"]) == (
        "7", "warehouse", True)


@pytest.mark.parametrize(("entity_type", "record", "message"), [
    ("item", {"item_id": "1"}, "missing required field 'name'"),
    ("contact", {"contact_id": "1", "contact_name": "x"}, "contact_type"),
    ("invoice", {"invoice_id": "1", "total": "many"}, "field 'total'"),
    ("invoice", {"invoice_id": "1", "line_items": [{"line_item_id": "a", "rate": 1}]},
     "quantity"),
    ("bill", {"bill_id": "1", "date": "soon"}, "field 'date'"),
    ("customerpayment", {"payment_id": "1", "invoices": [{"invoice_id": "2"}]},
     "amount_applied"),
    ("nothing", {}, "unknown entity type"),
])
def test_records_that_can_never_succeed(entity_type: str, record: dict[str, Any],
                                        message: str) -> None:
    with pytest.raises(InvalidEvent, match=message) as caught:
        normalise(entity_type, record)
    assert not caught.value.retriable
