"""The hand-written raw-event reader reads exactly what the codec reads."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from schemas.codec import default_codec, load_versions
from schemas.errors import CodecError
from schemas.events import RawEvent
from streams.rawread import RawReader
from tests.avro_strategies import from_schema
from tests.unit.streams.builders import item, raw

CODEC = default_codec()
READER = RawReader(CODEC)
WHERE: dict[str, Any] = {"topic": "t", "partition": 0, "offset": 0}


@settings(max_examples=300, deadline=None)
@given(from_schema(CODEC.latest("raw_event").schema))
def test_same_event_as_the_codec(value: dict[str, Any]) -> None:
    data = CODEC.encode("raw_event", value)
    _, decoded = CODEC.decode(data)
    assert READER.read(data, **WHERE) == RawEvent.from_avro(decoded)


def test_other_layouts_are_left_to_the_codec() -> None:
    older = next(v for v in load_versions()
                 if v.family == "raw_event" and v.version < CODEC.latest("raw_event").version)
    data = CODEC.encode("raw_event", raw("item", item("1")).to_avro())
    assert READER.read(data[:2] + older.fingerprint + data[10:], **WHERE) is None
    assert READER.read(b"not avro at all", **WHERE) is None


def test_corrupt_values_are_codec_errors() -> None:
    data = raw("item", item("1"), run="r1").encode()
    with pytest.raises(CodecError):
        READER.read(data[:-3], **WHERE)
    with pytest.raises(CodecError):
        READER.read(data + b"\x00", **WHERE)
