"""JSON back into Avro values: the inverse of what `tds tail` prints.

JSON has no timestamps, dates, decimals or bytes, so `tds tail` prints them as strings;
walking the family's newest schema turns each string back into the type fastavro writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from schemas.codec import Codec
from schemas.events import RECORD_TYPES

Named = dict[str, Any]


def _collect(schema: Any, named: Named) -> None:
    """Index every named type (fastavro inlines a name's first use only)."""
    if isinstance(schema, list):
        for branch in schema:
            _collect(branch, named)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and "name" in schema:
            named[schema["name"]] = schema
        for child in schema.get("fields", ()):
            _collect(child["type"], named)
        for key in ("items", "values"):
            if key in schema:
                _collect(schema[key], named)


def _logical(schema: Mapping[str, Any], value: Any) -> Any:
    kind = schema.get("logicalType")
    if not isinstance(value, str):
        return value
    if kind in ("timestamp-micros", "timestamp-millis"):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "decimal":
        return Decimal(value)
    if schema.get("type") in ("bytes", "fixed"):
        return value.encode()
    return value


def _convert(schema: Any, value: Any, named: Named, branch: str | None = None) -> Any:
    if isinstance(schema, str):
        if schema in named:
            return _convert(named[schema], value, named)
        return value.encode() if schema == "bytes" and isinstance(value, str) else value
    if isinstance(schema, list):
        if value is None:
            return None
        branches = [b for b in schema if b != "null"]
        if branch is not None:  # a union of records: the caller names the branch
            return (branch, _convert(named[branch], value, named))
        if len(branches) != 1:
            raise ValueError(f"cannot tell which of {len(branches)} union branches a JSON "
                             "value is")
        return _convert(branches[0], value, named)
    kind = schema.get("type")
    if kind == "record":
        if not isinstance(value, Mapping):
            raise ValueError(f"{schema.get('name')}: expected a JSON object")
        return {f["name"]: _convert(f["type"], value[f["name"]], named)
                for f in schema["fields"] if f["name"] in value}
    if kind == "array":
        return [_convert(schema["items"], v, named) for v in value]
    if kind == "map":
        return {k: _convert(schema["values"], v, named) for k, v in value.items()}
    if isinstance(kind, dict | list):
        return _convert(kind, value, named)
    return _logical(schema, value)


def from_json(codec: Codec, family: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """The Avro value of `family` that a JSON object (as `tds tail` prints it) stands for."""
    schema = codec.latest(family).schema
    named: Named = {}
    _collect(schema, named)
    out: dict[str, Any] = {}
    for f in schema["fields"]:
        if f["name"] not in value:
            continue  # Avro defaults fill it, or encoding names the missing field
        branch = None
        if family == "entity_synced" and f["name"] == "record":
            branch = RECORD_TYPES.get(str(value.get("entity_type")))
        out[f["name"]] = _convert(f["type"], value[f["name"]], named, branch)
    return out
