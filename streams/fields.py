"""Typed reads of one Zoho record's fields, with errors that name the entity and field.

Zoho mixes types (facts §4): money as numbers or strings, `""` for an empty number or id,
timestamps with the organisation's offset and no colon (`+0300`), sometimes `...Z`
or date-only. Every read here returns the Avro type of `entity_synced.v1.avsc`:
decimals quantized to 6 places, aware UTC datetimes, dates, optional text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from streams.errors import InvalidEvent

_SCALE = Decimal("0.000001")
_LIMIT = Decimal(10) ** 22  # decimal(28, 6) keeps 22 digits before the point
_INT_FAST = 10**21
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})


def plain_decimal(text: str) -> Decimal | None:
    """The decimal(28,6) of a plain numeric string (Zoho's `"129.00"`), or None for any
    other string: `to_decimal` then decides, and names what is wrong."""
    try:
        # (Decimal strips the whitespace `to_decimal` strips)
        number = Decimal(text).quantize(_SCALE)
    except InvalidOperation:
        return None
    return number if number.is_finite() and -_LIMIT < number < _LIMIT else None


def to_decimal(value: Any) -> Decimal | None:
    """A number, numeric string or `""`/None as decimal(28,6); ValueError when not one."""
    kind = value.__class__
    # Fast paths (most of Zoho's money): finite and well inside the range, so quantize
    # can neither fail nor overflow; the checks below would all pass.
    if kind is float:
        if -1e21 < value < 1e21:
            return Decimal(repr(value)).quantize(_SCALE)
    elif kind is int and -_INT_FAST < value < _INT_FAST:
        return Decimal(value).quantize(_SCALE)
    elif kind is str:
        number = plain_decimal(value)
        if number is not None:
            return number
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a number")
    try:
        if isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))  # repr: the shortest decimal that round-trips
        elif isinstance(value, str):
            number = Decimal(value.strip())
        else:
            raise ValueError(f"{type(value).__name__} is not a number")
        if not number.is_finite():
            raise ValueError(f"{value!r} is not finite")
        quantized = number.quantize(_SCALE)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number within decimal(28,6)") from None
    if abs(quantized) >= _LIMIT:
        raise ValueError(f"{value!r} is out of range for decimal(28,6)")
    return quantized


def to_utc(value: Any) -> datetime | None:
    """A Zoho timestamp (`+0300`, `Z`, naive = UTC, or a bare date) as aware UTC."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{type(value).__name__} is not a timestamp")
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 timestamp") from None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)  # no offset given: read as UTC, not local time
    return when.astimezone(UTC)


def to_date(value: Any) -> date | None:
    """A `yyyy-mm-dd` date (a timestamp keeps its date part)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{type(value).__name__} is not a date")
    text = value.strip()
    try:
        return date.fromisoformat(text[:10] if len(text) > 10 and text[10] in "T " else text)
    except ValueError:
        raise ValueError(f"{value!r} is not a yyyy-mm-dd date") from None


def to_text(value: Any) -> str | None:
    """Text or a number as text; `""` and None are None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(f"{type(value).__name__} is not text")


_INT32 = 2**31  # the output schema's whole numbers are Avro `int`


def to_int(value: Any) -> int | None:
    """A 32-bit whole number (int, integral float or numeric string); `""` and None are
    None. Out of range is invalid here, not a codec failure after the version rule."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        raise ValueError(f"{value!r} is not a whole number")
    if not -_INT32 <= number < _INT32:
        raise ValueError(f"{value!r} is out of range for a 32-bit whole number")
    return number


def to_bool(value: Any) -> bool:
    """A boolean from true/false, 1/0 or their strings; None is false."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError(f"{value!r} is not a boolean")


class Fields:
    """Reads fields of one record; every failure is an InvalidEvent naming the field."""

    __slots__ = ("entity_type", "record")

    def __init__(self, record: Mapping[str, Any], entity_type: str) -> None:
        self.record, self.entity_type = record, entity_type

    def _fail(self, name: str, exc: ValueError) -> InvalidEvent:
        return InvalidEvent(f"field {name!r}: {exc}", entity_type=self.entity_type, field=name)

    def _first(self, name: str, fallbacks: tuple[str, ...]) -> tuple[str, Any]:
        """(key, value) of the first non-empty of `name`, *fallbacks; value None if none.
        `name` is looked at before any tuple is built: it is nearly always there."""
        value = self.record.get(name)
        if value is not None and value != "":
            return name, value
        for key in fallbacks:
            value = self.record.get(key)
            if value is not None and value != "":
                return key, value
        return name, None

    def decimal(self, name: str, *fallbacks: str) -> Decimal | None:
        """Optional decimal; the first present of `name`, *fallbacks."""
        value = self.record.get(name)
        if value.__class__ is float and -1e21 < value < 1e21:
            # to_decimal's fast path, inline: two calls saved on most of an event's numbers
            return Decimal(repr(value)).quantize(_SCALE)
        key, value = self._first(name, fallbacks)
        if value is None:
            return None
        try:
            return to_decimal(value)
        except ValueError as exc:
            raise self._fail(key, exc) from None

    def required_decimal(self, name: str) -> Decimal:
        """A decimal that must be present."""
        value = self.decimal(name)
        if value is None:
            raise InvalidEvent(f"missing required number {name!r}",
                               entity_type=self.entity_type, field=name)
        return value

    def text(self, name: str, *fallbacks: str) -> str | None:
        """Optional text; the first non-empty of `name`, *fallbacks."""
        value = self.record.get(name)
        if value.__class__ is str and value:  # the common case
            return value
        key, value = self._first(name, fallbacks)
        if value is None:
            return None
        try:
            return to_text(value)
        except ValueError as exc:
            raise self._fail(key, exc) from None

    def required_text(self, name: str, *fallbacks: str) -> str:
        """Text that must be present and non-empty."""
        value = self.record.get(name)
        if value.__class__ is str and value:  # text's common case, without its call
            return value
        value = self.text(name, *fallbacks)
        if value is None:
            raise InvalidEvent(f"missing required field {name!r}",
                               entity_type=self.entity_type, field=name)
        return value

    def time(self, name: str, *fallbacks: str) -> datetime | None:
        """Optional timestamp as aware UTC."""
        value = self.record.get(name)
        if value.__class__ is str and value:  # the common case: no fallback looked at
            try:
                return to_utc(value)
            except ValueError as exc:
                raise self._fail(name, exc) from None
        key, value = self._first(name, fallbacks)
        if value is None:
            return None
        try:
            return to_utc(value)
        except ValueError as exc:
            raise self._fail(key, exc) from None

    def date(self, name: str) -> date | None:
        """Optional date."""
        try:
            return to_date(self.record.get(name))
        except ValueError as exc:
            raise self._fail(name, exc) from None

    def integer(self, name: str) -> int | None:
        """Optional whole number."""
        try:
            return to_int(self.record.get(name))
        except ValueError as exc:
            raise self._fail(name, exc) from None

    def boolean(self, name: str) -> bool:
        """A boolean, false when absent."""
        try:
            return to_bool(self.record.get(name))
        except ValueError as exc:
            raise self._fail(name, exc) from None

    def rows(self, name: str) -> list[Mapping[str, Any]]:
        """A list of objects (line items, applications); absent or `""` is empty."""
        value = self.record.get(name)
        if value is None or value == "":
            return []
        # (dict first: the Mapping ABC check costs ~0.3 µs a row)
        if not isinstance(value, list) or not all(
                row.__class__ is dict or isinstance(row, Mapping) for row in value):
            raise InvalidEvent(f"field {name!r} is not a list of objects",
                               entity_type=self.entity_type, field=name)
        return value
