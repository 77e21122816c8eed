"""The compiled writer writes exactly fastavro's bytes for any EntitySynced value."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import default_codec
from schemas.errors import CodecError
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


def _drop(value: Any, draw: st.DrawFn) -> Any:
    """`value` with at most one field of each record left out (at any depth)."""
    if isinstance(value, tuple):  # a record union's (name, record)
        return value[0], _drop(value[1], draw)
    if isinstance(value, list):
        return [_drop(item, draw) for item in value]
    if isinstance(value, dict) and value:
        dropped = draw(st.sets(st.sampled_from(sorted(value)), max_size=1))
        return {name: _drop(field, draw) for name, field in value.items()
                if name not in dropped}
    return value


@st.composite
def _partial(draw: st.DrawFn) -> dict[str, Any]:
    value: dict[str, Any] = draw(from_schema(CODEC.latest("entity_synced").schema))
    result: dict[str, Any] = _drop(value, draw)
    return result


@settings(max_examples=200, deadline=None)
@given(_partial())
def test_missing_fields_take_their_defaults_or_fail(value: dict[str, Any]) -> None:
    # The writer subscripts every field first and starts over when one is missing.
    try:
        expected = CODEC.encode("entity_synced", value)
    except CodecError:
        with pytest.raises(ValueError, match="needs field"):
            FAST.encode(value)
    else:
        assert FAST.encode(value) == expected
