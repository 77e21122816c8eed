"""The codec: every schema round-trips, and bad bytes raise our error with a location."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import MARKER, default_codec, load_versions
from schemas.errors import CodecError, UnknownSchemaError
from tests.avro_strategies import from_schema, unwrap

CODEC = default_codec()
LATEST = {family: CODEC.latest(family) for family in CODEC.families()}


@pytest.mark.parametrize("family", sorted(LATEST))
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_every_schema_round_trips(family: str, data: st.DataObject) -> None:
    value: dict[str, Any] = data.draw(from_schema(LATEST[family].schema))
    encoded = CODEC.encode(family, value)
    assert encoded[:2] == MARKER
    assert encoded[2:10] == LATEST[family].fingerprint
    decoded_family, decoded = CODEC.decode(encoded)
    assert decoded_family == family
    assert decoded == unwrap(value)


def test_fingerprint_is_the_avro_spec_crc64_little_endian() -> None:
    # The Avro spec's CRC-64-AVRO of the schema "int" is 0x7275d51a3f395c8f.
    from fastavro.schema import fingerprint

    assert bytes.fromhex(fingerprint('"int"', "CRC-64-AVRO")) == (0x7275D51A3F395C8F).to_bytes(
        8, "little")


def test_families_are_the_contract() -> None:
    assert CODEC.families() == ["command", "entity_synced", "outbound_command",
                                "outbound_result", "raw_event", "sync_run"]
    assert len({v.fingerprint for v in load_versions()}) == len(load_versions())


def test_bad_marker_names_the_location() -> None:
    with pytest.raises(CodecError, match=r"\(bad marker\) at zoho.raw.bulk\[3\]@42") as info:
        CODEC.decode(b"{not avro at all}", topic="zoho.raw.bulk", partition=3, offset=42)
    assert (info.value.topic, info.value.partition, info.value.offset) == ("zoho.raw.bulk", 3, 42)
    assert info.value.retriable is False


def test_unknown_fingerprint() -> None:
    with pytest.raises(UnknownSchemaError, match="unknown schema fingerprint 0102030405060708"):
        CODEC.decode(MARKER + bytes(range(1, 9)) + b"\x00")


def test_truncated_and_trailing_bytes() -> None:
    encoded = CODEC.encode("command", {
        "command_id": "c", "kind": "sync", "run_id": "r", "entity_types": ["item"],
        "source": "zoho", "mode": "full", "requested_by": "t", "ids": [], "options": {},
        "requested_at": 0})
    with pytest.raises(CodecError, match="corrupt command"):
        CODEC.decode(encoded[:-3], topic="tds.commands", partition=0, offset=1)
    with pytest.raises(CodecError, match="trailing bytes"):
        CODEC.decode(encoded + b"\x00")


def test_encode_rejects_a_value_that_does_not_fit() -> None:
    with pytest.raises(CodecError, match="cannot encode command"):
        CODEC.encode("command", {"command_id": 5})
