"""The compiled writer writes exactly fastavro's bytes for any EntitySynced value."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from schemas.codec import default_codec
from streams.avro import FastEncoder
from tests.avro_strategies import from_schema

CODEC = default_codec()
FAST = FastEncoder(CODEC, "entity_synced")


@settings(max_examples=400, deadline=None)
@given(from_schema(CODEC.latest("entity_synced").schema))
def test_same_bytes_as_fastavro(value: dict[str, Any]) -> None:
    assert FAST.encode(value) == CODEC.encode("entity_synced", value)


@settings(max_examples=100, deadline=None)
@given(from_schema(CODEC.latest("sync_run").schema))
def test_other_families_too(value: dict[str, Any]) -> None:
    assert FastEncoder(CODEC, "sync_run").encode(value) == CODEC.encode("sync_run", value)
