"""Zoho's mixed field types read into the Avro types, with errors naming the field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from streams.errors import InvalidEvent
from streams.fields import (
    Fields,
    plain_decimal,
    to_bool,
    to_date,
    to_decimal,
    to_int,
    to_text,
    to_utc,
)


@pytest.mark.parametrize(("raw", "expected"), [
    (12, Decimal("12")), (6.2, Decimal("6.2")), (0.1, Decimal("0.1")),
    ("13564.88", Decimal("13564.88")),
    (" 5 ", Decimal("5")), ("", None), (None, None), (1e-7, Decimal("0")), (-2.5, Decimal("-2.5")),
])
def test_decimals_are_quantized_to_six_places(raw: object, expected: Decimal | None) -> None:
    value = to_decimal(raw)
    assert value == expected
    if value is not None:
        assert value.as_tuple().exponent == -6


@pytest.mark.parametrize("raw", [True, "abc", "1,234.00", float("nan"), float("inf"), [1],
                                 "1e30", 10**23])
def test_non_numbers_and_out_of_range_are_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        to_decimal(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ("2025-11-13T10:30:00+0300", datetime(2025, 11, 13, 7, 30, tzinfo=UTC)),
    ("2023-11-18T02:02:51-0800", datetime(2023, 11, 18, 10, 2, 51, tzinfo=UTC)),
    ("2015-05-28T00:00:00.000Z", datetime(2015, 5, 28, tzinfo=UTC)),
    ("2025-11-13T10:30:00", datetime(2025, 11, 13, 10, 30, tzinfo=UTC)),
    ("2025-11-13", datetime(2025, 11, 13, tzinfo=UTC)),
    ("", None),
])
def test_timestamps_become_aware_utc(raw: str, expected: datetime | None) -> None:
    assert to_utc(raw) == expected


def test_bad_timestamps_dates_and_types() -> None:
    for bad in ("yesterday", 1700000000):
        with pytest.raises(ValueError):
            to_utc(bad)
    assert to_date("2025-11-13") == date(2025, 11, 13)
    assert to_date("2025-11-13T10:00:00+0300") == date(2025, 11, 13)
    with pytest.raises(ValueError):
        to_date("13/11/2025")
    assert (to_text(""), to_text(1), to_text("x"), to_text(False)) == (None, "1", "x", "false")
    with pytest.raises(ValueError):
        to_text({"a": 1})
    assert (to_int("30"), to_int(30.0), to_int("")) == (30, 30, None)
    assert (to_int(2**31 - 1), to_int(str(-2**31))) == (2**31 - 1, -2**31)
    for too_big in (2**31, -2**31 - 1, "2147483648", 1e10):  # the schema's int is 32-bit
        with pytest.raises(ValueError, match="out of range"):
            to_int(too_big)
    with pytest.raises(ValueError):
        to_int(2.5)
    assert (to_bool("true"), to_bool(0), to_bool(None)) == (True, False, False)
    with pytest.raises(ValueError):
        to_bool("maybe")


def test_field_errors_name_the_entity_and_field() -> None:
    fields = Fields({"rate": "lots", "item_id": ""}, "item")
    with pytest.raises(InvalidEvent) as caught:
        fields.decimal("rate")
    assert caught.value.field == "rate" and "item: field 'rate'" in str(caught.value)
    assert not caught.value.retriable
    with pytest.raises(InvalidEvent, match="missing required field 'item_id'"):
        fields.required_text("item_id")
    assert Fields({"a": "", "b": "2"}, "item").text("a", "b") == "2"
    with pytest.raises(InvalidEvent, match="not a list of objects"):
        Fields({"line_items": [1]}, "invoice").rows("line_items")


@pytest.mark.parametrize("text", ["129.00", " 1.5 ", "-0.0000005", "1_000", "9" * 22,
                                  "NaN", "sNaN", "-Infinity", "1e400", "cheap", "", " "])
def test_plain_decimal_is_to_decimal_or_stands_aside(text: str) -> None:
    number = plain_decimal(text)
    if number is None:  # not the plain case: to_decimal's checked path decides
        return
    checked = Decimal(text.strip()).quantize(Decimal("0.000001"))
    assert (str(number), str(to_decimal(text))) == (str(checked), str(checked))


@pytest.mark.parametrize("text", ["NaN", "sNaN", "-Infinity", "1e400", "cheap", " ", "9" * 23])
def test_strings_that_are_no_decimal_still_fail(text: str) -> None:
    assert plain_decimal(text) is None
    with pytest.raises(ValueError):
        to_decimal(text)
