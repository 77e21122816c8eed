"""Zoho's timestamp format: `2025-11-13T10:30:00+0300` (offset without a colon)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_TS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?)?$"
)


def format_zoho(moment: datetime) -> str:
    """Format an aware datetime as Zoho's filter wants it (seconds, `+HHMM` offset)."""
    if moment.tzinfo is None:
        raise ValueError("Zoho timestamps need an aware datetime")
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S%z")


def parse_zoho(text: str, default_tz: timezone = UTC) -> datetime:
    """Parse any timestamp form Zoho sends (`+0300`, `+03:00`, `Z`, millis, bare date).

    Raises ValueError when `text` is not a timestamp.
    """
    m = _TS.match(text.strip())
    if m is None:
        raise ValueError(f"not a Zoho timestamp: {text!r}")
    year, month, day, hh, mi, ss, frac, zone = m.groups()
    tz: timezone = default_tz
    if zone == "Z":
        tz = UTC
    elif zone:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    micros = int((frac or "0")[:6].ljust(6, "0"))
    return datetime(int(year), int(month), int(day), int(hh or 0), int(mi or 0), int(ss or 0),
                    micros, tzinfo=tz)


def record_modified(record: dict[str, object]) -> datetime | None:
    """The record's `last_modified_time` as an aware datetime, or None when absent or odd."""
    raw = record.get("last_modified_time") or record.get("updated_time")
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return parse_zoho(raw)
    except ValueError:
        return None
