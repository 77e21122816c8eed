"""The compiled writer's inline paths: record unions and arrays of records."""

from __future__ import annotations

from typing import Any

import pytest

from streams.avro import compile_writer

LINE = {"type": "record", "name": "Line", "fields": [{"name": "n", "type": "long"}]}
OTHER = {"type": "record", "name": "Other", "fields": [{"name": "s", "type": "string"}]}
SCHEMA = {"type": "record", "name": "Doc", "fields": [
    {"name": "body", "type": ["null", LINE, OTHER]},
    {"name": "lines", "type": {"type": "array", "items": "Line"}},
]}


def write(value: dict[str, Any]) -> bytes:
    out = bytearray()
    compile_writer(SCHEMA)(value, out)
    return bytes(out)


def test_union_branches_by_name_and_null() -> None:
    assert write({"body": ("Other", {"s": "ab"}), "lines": []}) == b"\x04\x04ab\x00"
    assert write({"body": ("Line", {"n": 1}), "lines": []}) == b"\x02\x02\x00"
    assert write({"body": None, "lines": []}) == b"\x00\x00"


def test_union_without_the_name_notation_is_refused() -> None:
    with pytest.raises(ValueError, match="notation"):
        write({"body": {"n": 1}, "lines": []})
    with pytest.raises(ValueError, match="notation"):
        write({"body": ("Unknown", {"n": 1}), "lines": []})


def test_arrays_of_records_in_blocks() -> None:
    assert write({"body": None, "lines": [{"n": 1}, {"n": -1}]}) == b"\x00\x04\x02\x01\x00"
    many = write({"body": None, "lines": [{"n": 0}] * 70})
    assert many == b"\x00" + bytes([0x8C, 0x01]) + b"\x00" * 70 + b"\x00"
