"""Compiled field plans read exactly what the `Fields` reads would, errors included."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from streams.entities.plan import (
    BOOLEAN,
    CONSTANT,
    CUSTOM,
    DATE,
    DECIMAL,
    INTEGER,
    REQUIRED_DECIMAL,
    REQUIRED_TEXT,
    TEXT,
    TIME,
    compile_plan,
    rows,
)
from streams.errors import InvalidEvent
from streams.fields import Fields

PLAN = (
    ("id", REQUIRED_TEXT, "id"),
    ("name", TEXT, "name", "title"),
    ("price", DECIMAL, "price", "rate"),
    ("quantity", REQUIRED_DECIMAL, "quantity"),
    ("day", DATE, "day"),
    ("count", INTEGER, "count"),
    ("flag", BOOLEAN, "flag"),
    ("at", TIME, "at", "updated"),
    ("kind", CONSTANT, "thing"),
    ("extra", CUSTOM, lambda f: f.text("extra")),
)
thing = compile_plan("thing", PLAN)


def by_fields(record: dict[str, Any]) -> dict[str, Any]:
    """What PLAN reads, through `Fields` one call at a time."""
    f = Fields(record, "thing")
    return {"id": f.required_text("id"), "name": f.text("name", "title"),
            "price": f.decimal("price", "rate"), "quantity": f.required_decimal("quantity"),
            "day": f.date("day"), "count": f.integer("count"), "flag": f.boolean("flag"),
            "at": f.time("at", "updated"), "kind": "thing", "extra": f.text("extra")}


@pytest.mark.parametrize("record", [
    {"id": "1", "name": "a", "price": 1.5, "quantity": 2, "day": "2025-11-13", "count": 3,
     "flag": True, "at": "2025-11-13T10:00:00+0300", "extra": "x"},
    {"id": "1", "title": "b", "rate": "129.00", "quantity": "4.5", "updated": "2025-11-13"},
    {"id": "1", "name": "", "price": "", "rate": 2.25, "quantity": " 7 "},
    {"id": 12, "name": 3.5, "price": 7, "quantity": "1_000.5", "at": ""},
])
def test_same_record_as_the_fields_reads(record: dict[str, Any]) -> None:
    assert thing(record) == by_fields(record)
    assert str(thing(record)["quantity"]) == str(by_fields(record)["quantity"])


@pytest.mark.parametrize("record", [
    {"name": "no id", "quantity": 1},
    {"id": "1", "quantity": "NaN"},
    {"id": "1", "quantity": 1, "price": "cheap"},
    {"id": "1", "quantity": 1, "price": "1e400"},
    {"id": "1", "quantity": 1, "rate": float("inf")},
    {"id": "1"},
])
def test_same_errors_as_the_fields_reads(record: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent) as expected:
        by_fields(record)
    with pytest.raises(InvalidEvent) as caught:
        thing(record)
    assert (str(caught.value), caught.value.field) == (str(expected.value),
                                                       expected.value.field)


def test_numeric_strings_keep_six_places() -> None:
    record = thing({"id": "1", "quantity": "129.00", "price": " 1.5 "})
    assert (str(record["quantity"]), str(record["price"])) == ("129.000000", "1.500000")
    assert isinstance(record["quantity"], Decimal)


def test_rows_carry_the_entity_type_into_their_errors() -> None:
    row = compile_plan("row", (("id", REQUIRED_TEXT, "id"),))
    parent = Fields({"lines": [{"id": "a"}, {"id": ""}]}, "invoice")
    with pytest.raises(InvalidEvent) as caught:
        rows(parent, "lines", row)
    assert caught.value.entity_type == "invoice"
    assert rows(Fields({"lines": [{"id": "a"}]}, "invoice"), "lines", row) == [{"id": "a"}]


@pytest.mark.parametrize("entry", [
    ("x", "nonsense", "x"),
    ("x", TEXT),
    ("x", DATE, "a", "b"),
])
def test_bad_plan_entries_are_refused(entry: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError, match="bad plan entry"):
        compile_plan("thing", (entry,))
