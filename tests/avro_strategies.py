"""Hypothesis strategies that generate any value of a parsed Avro schema."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _named(schema: Any, named: dict[str, Any]) -> Any:
    if isinstance(schema, str) and schema in named:
        return named[schema]
    if isinstance(schema, dict) and schema.get("type") in ("record", "enum", "fixed"):
        named[schema["name"]] = schema
    return schema


def from_schema(schema: Any, named: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """A strategy for values that fastavro can write with `schema` (parsed form)."""
    named = {} if named is None else named
    schema = _named(schema, named)
    if isinstance(schema, list):
        # Register named types of every branch first, as Avro resolves them in order.
        branches = [_branch(branch, named) for branch in schema]
        return st.one_of(*branches)
    if isinstance(schema, str):
        return _primitive(schema)
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical == "decimal":
        scale = schema["scale"]
        digits = schema["precision"] - scale
        limit = 10 ** min(digits, 12)
        return st.decimals(min_value=-limit + 1, max_value=limit - 1, places=scale,
                           allow_nan=False, allow_infinity=False).map(Decimal)
    if logical == "timestamp-micros":
        return st.integers(min_value=0, max_value=4_102_444_800_000_000).map(
            lambda us: _EPOCH + timedelta(microseconds=us))
    if logical == "date":
        return st.dates(min_value=date(1970, 1, 1), max_value=date(2100, 1, 1))
    if kind == "record":
        fields = {f["name"]: from_schema(f["type"], named) for f in schema["fields"]}
        return st.fixed_dictionaries(fields)
    if kind == "array":
        return st.lists(from_schema(schema["items"], named), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=8), from_schema(schema["values"], named),
                               max_size=3)
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "fixed":
        return st.binary(min_size=schema["size"], max_size=schema["size"])
    return _primitive(kind)


def _primitive(kind: str) -> st.SearchStrategy[Any]:
    strategies: dict[str, st.SearchStrategy[Any]] = {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": st.integers(min_value=-(2**31), max_value=2**31 - 1),
        "long": st.integers(min_value=-(2**63), max_value=2**63 - 1),
        "float": st.floats(width=32, allow_nan=False),
        "double": st.floats(allow_nan=False),
        "bytes": st.binary(max_size=64),
        "string": st.text(max_size=32),
    }
    return strategies[kind]


def _branch(schema: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A union branch; records use fastavro's (name, value) notation so the branch is exact."""
    resolved = _named(schema, named)
    strategy = from_schema(schema, named)
    if isinstance(resolved, dict) and resolved.get("type") == "record":
        name = resolved["name"]
        return strategy.map(lambda value: (name, value))
    return strategy


def unwrap(value: Any) -> Any:
    """Drop the (name, value) union notation, as a reader returns plain values."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return unwrap(value[1])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value
