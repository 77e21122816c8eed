"""The hand-written raw-event reader reads exactly what the codec reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings

from schemas.codec import default_codec, load_versions
from schemas.errors import CodecError
from schemas.events import RawEvent
from streams.rawread import RawReader
from tests.avro_strategies import from_schema
from tests.unit.streams.builders import T0, item, raw

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


def test_a_repeated_receive_time_reads_the_same_as_a_new_one() -> None:
    # The reader keeps the last received_at; runs of equal and changing times, and a
    # corrupt value in between, must read exactly as the codec reads them.
    reader = RawReader(CODEC)
    times = [T0, T0, T0 + timedelta(microseconds=1), T0, T0 - timedelta(days=400),
             T0 - timedelta(days=400)]
    for n, when in enumerate(times):
        data = raw("item", item(str(n)), received=when).encode()
        if n == 3:
            with pytest.raises(CodecError):
                reader.read(data[:-3], **WHERE)
        _, decoded = CODEC.decode(data)
        event = reader.read(data, **WHERE)
        assert event == RawEvent.from_avro(decoded)
        assert event is not None and event.received_at == when


def test_an_optional_string_with_no_such_branch_is_a_codec_error() -> None:
    event = raw("item", item("1"), run="r1")
    data = event.encode()
    # entity_id's branch byte follows the four leading strings (each short here)
    pos = 10
    for text in (event.event_id, event.source, event.org_id, event.entity_type):
        pos += 1 + len(text.encode())
    assert data[pos] == 2  # a string
    with pytest.raises(CodecError, match="branch"):
        READER.read(data[:pos] + b"\x04" + data[pos + 1:], **WHERE)
