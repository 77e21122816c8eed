"""The normalisers under hostile records: every Zoho-shaped record, with any field replaced,
removed or added, either normalises into a record the `tds.entity.synced` schema accepts
(and that decodes back to the same record) or raises InvalidEvent naming the problem.
Nothing else: no KeyError, TypeError or Avro error may escape into the stream worker.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from schemas.codec import default_codec
from schemas.events import EntitySynced, decode_event
from streams.entities import RECORD_ID, normalise
from streams.errors import InvalidEvent

FIXTURES = Path(__file__).resolve().parents[2] / "unit" / "streams" / "fixtures"
# entity type → a real-shaped Zoho record of it (tests/unit/streams/fixtures).
BASES: dict[str, dict[str, Any]] = {
    entity: json.loads((FIXTURES / f"{name}.json").read_text())
    for entity, name in (("item", "items"), ("stock", "items_warehouses"),
                         ("location", "locations"), ("contact", "contacts"),
                         ("salesorder", "salesorders"), ("invoice", "invoices"),
                         ("creditnote", "creditnotes"), ("bill", "bills"),
                         ("customerpayment", "customerpayments"),
                         ("vendorpayment", "vendorpayments"))}
CODEC = default_codec()
T0 = datetime(2025, 11, 13, tzinfo=UTC)

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
_scalar = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | _text
           | st.sampled_from(["", "0", "-1", "1e400", "NaN", "2025-13-45", "12.5",
                              "2025-11-13T10:00:00+0300", "'; DROP TABLE items; --",
                              "<script>alert(1)</script>"]))
_json = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_text, inner, max_size=3), max_leaves=6)


@st.composite
def hostile_records(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A fixture record of some entity type with a few fields replaced, dropped or added;
    nested line items and locations are mutated too."""
    entity = draw(st.sampled_from(sorted(BASES)))
    record: dict[str, Any] = json.loads(json.dumps(BASES[entity]))
    for _ in range(draw(st.integers(1, 4))):
        target: dict[str, Any] = record
        nested = [k for k, v in record.items() if isinstance(v, list) and v
                  and all(isinstance(row, dict) for row in v)]
        into_rows = draw(st.booleans())
        if nested and into_rows:
            rows: list[dict[str, Any]] = record[draw(st.sampled_from(nested))]
            target = rows[draw(st.integers(0, len(rows) - 1))]
        field = draw(st.sampled_from(sorted(target)) | _text) if target else draw(_text)
        action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        if action == "drop":
            target.pop(field, None)
        else:
            target[field] = draw(_json)
    return entity, record


def _synced(entity: str, record: dict[str, Any]) -> EntitySynced:
    return EntitySynced(
        event_id="00000000-0000-0000-0000-000000000000", op="upsert", org_id="20077551234",
        entity_type=entity, entity_id=str(record[RECORD_ID[entity]]),
        version_modified_at=T0, version_offset=1, version_source="zoho.raw.bulk",
        content_hash="0" * 64, source="poll.full", sync_run_id=None, synced_at=T0,
        record=record, raw_json="{}")


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_records())
def test_normalise_is_valid_or_invalid_event(case: tuple[str, dict[str, Any]]) -> None:
    entity, raw = case
    try:
        record = normalise(entity, raw)
    except InvalidEvent as exc:
        event("refused")
        assert str(exc), "an InvalidEvent must say what is wrong"
        return
    event("normalised")
    synced = _synced(entity, record)
    data = CODEC.encode("entity_synced", synced.to_avro())
    back = decode_event(data, topic="t", partition=0, offset=0)
    assert isinstance(back, EntitySynced)
    assert back.entity_id == synced.entity_id
    assert back.record == synced.record


def test_every_fixture_normalises() -> None:
    """The unmutated fixtures are valid: the fuzz starts from records that pass."""
    for entity, record in BASES.items():
        assert normalise(entity, record)[RECORD_ID[entity]] == record[RECORD_ID[entity]]
