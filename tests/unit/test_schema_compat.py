"""Each schema family stays backward compatible: values written with any earlier kept
version decode with the newest one (new fields come from their defaults)."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import SCHEMA_DIR, Codec, SchemaVersion, load_versions
from tests.avro_strategies import from_schema, unwrap

VERSIONS = load_versions()
CODEC = Codec(VERSIONS)
PAIRS = [
    (old, CODEC.latest(old.family)) for old in VERSIONS
    if old.version < CODEC.latest(old.family).version
]


def test_there_is_history_to_check() -> None:
    # raw_event v1 → v2 added `attributes`; without kept history this file proves nothing.
    assert any(old.family == "raw_event" and old.version == 1 for old, _ in PAIRS)


def test_every_family_has_contiguous_versions() -> None:
    by_family: dict[str, list[int]] = {}
    for version in VERSIONS:
        by_family.setdefault(version.family, []).append(version.version)
    for family, numbers in by_family.items():
        assert numbers == list(range(1, len(numbers) + 1)), family


def test_newer_versions_only_add_fields_with_defaults() -> None:
    for old, new in PAIRS:
        old_fields = {f["name"] for f in json.loads(
            (SCHEMA_DIR / f"{old.family}.v{old.version}.avsc").read_text())["fields"]}
        for field in json.loads(
                (SCHEMA_DIR / f"{new.family}.v{new.version}.avsc").read_text())["fields"]:
            if field["name"] not in old_fields:
                assert "default" in field, f"{new.family} v{new.version}.{field['name']}"


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[0].family}-v{p[0].version}")
@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_old_values_decode_with_the_newest_schema(
    pair: tuple[SchemaVersion, SchemaVersion], data: st.DataObject
) -> None:
    old, new = pair
    value: dict[str, Any] = data.draw(from_schema(old.schema))
    out = io.BytesIO()
    out.write(b"\xc3\x01" + old.fingerprint)
    fastavro.schemaless_writer(out, old.schema, value)
    family, decoded = CODEC.decode(out.getvalue())
    assert family == old.family
    plain = unwrap(value)
    for name, field_value in plain.items():
        assert decoded[name] == field_value
    new_fields = {f["name"]: f for f in new.schema["fields"]} if isinstance(new.schema, dict) \
        else {}
    for name, field in new_fields.items():
        if name not in plain:
            assert decoded[name] == field["default"]
