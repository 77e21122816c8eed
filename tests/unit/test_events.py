"""The event dataclasses encode and decode through the codec without loss."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from schemas.errors import CodecError
from schemas.events import (
    RECORD_TYPES,
    Command,
    EntitySynced,
    RawEvent,
    SyncRunEvent,
    decode_event,
)

NOW = datetime(2025, 11, 13, 7, 30, tzinfo=UTC)


def test_raw_event_keeps_body_bytes() -> None:
    body = b'{"item": {"item_id": "1"}}\xff\x00'
    event = RawEvent(event_id="e1", source="webhook", org_id="42", entity_type="item",
                     entity_id="1", event_kind="edited", received_at=NOW, body=body,
                     content_type="application/json", signature_verified=True,
                     attributes={"action": "edited"})
    back = decode_event(event.encode())
    assert back == event
    assert isinstance(back, RawEvent) and back.body == body


def test_entity_synced_with_a_typed_record() -> None:
    record = {
        "salesorder_id": "9", "salesorder_number": "SO-1", "customer_id": "5",
        "customer_name": "<script>x</script>", "status": "open", "date": date(2025, 11, 13),
        "reference_number": None, "currency_code": "IQD", "shipment_date": None,
        "sub_total": Decimal("10.500000"), "total": Decimal("12.25"), "location_id": "3",
        "line_items": [{"line_item_id": "l1", "item_id": "1", "sku": None, "name": "x",
                        "description": None, "quantity": Decimal("2"), "rate": Decimal("6.125"),
                        "discount": None, "tax_id": None, "item_total": Decimal("12.25"),
                        "location_id": None}],
        "created_at": NOW, "modified_at": NOW,
    }
    event = EntitySynced(event_id="e", op="upsert", org_id="42", entity_type="salesorder",
                         entity_id="9", version_modified_at=NOW, version_offset=17,
                         version_source="zoho.raw.realtime", content_hash="ab", source="webhook",
                         sync_run_id=None, synced_at=NOW, record=record, raw_json="{}")
    back = decode_event(event.encode())
    assert isinstance(back, EntitySynced)
    assert back.record is not None
    assert back.record["total"] == Decimal("12.25")
    assert back.record["line_items"][0]["rate"] == Decimal("6.125")
    assert back.record["customer_name"] == "<script>x</script>"
    assert back == event  # Decimal("12.250000") == Decimal("12.25"), dates and times exact


def test_delete_has_no_record() -> None:
    event = EntitySynced(event_id="e", op="delete", org_id="42", entity_type="item",
                         entity_id="1", version_modified_at=NOW, version_offset=1,
                         version_source="zoho.raw.realtime", content_hash="", source="webhook",
                         sync_run_id=None, synced_at=NOW, record=None, raw_json=None)
    assert decode_event(event.encode()) == event


def test_every_entity_type_has_a_union_branch() -> None:
    from schemas.codec import default_codec

    union = next(f for f in default_codec().latest("entity_synced").schema["fields"]
                 if f["name"] == "record")["type"]
    names = {branch["name"] for branch in union if isinstance(branch, dict)}
    assert names == set(RECORD_TYPES.values())


def test_sync_run_and_command() -> None:
    run = SyncRunEvent(event_id="e", run_id="r", status="completed", run_type="full",
                       source="zoho", org_id="42", entity_types=["item"], at=NOW, seen=3,
                       changed=2, unchanged=1)
    command = Command(command_id="c", kind="sync", run_id="r", requested_at=NOW,
                      entity_types=["item", "contact"])
    assert decode_event(run.encode()) == run
    assert decode_event(command.encode()) == command


def test_missing_required_field_is_our_error() -> None:
    bad = Command(command_id="c", kind="sync", run_id=None,  # type: ignore[arg-type]
                  requested_at=NOW)
    with pytest.raises(CodecError, match="cannot encode command"):
        bad.encode()
