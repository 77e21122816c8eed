"""The simulator clock and Zoho's timestamp formats."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone


class SimClock:
    """Wall-clock or manual time that tests can move forward."""

    def __init__(
        self, start_epoch_s: float | None = None, *, wall: Callable[[], float] = time.time
    ) -> None:
        self._start = start_epoch_s
        self._wall = wall
        self._offset = 0.0

    @property
    def manual(self) -> bool:
        """Return True when time moves only through advance()."""
        return self._start is not None

    def now(self) -> float:
        """Return the current simulated epoch time in seconds."""
        base = self._start if self._start is not None else self._wall()
        return base + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward and return the new time."""
        if seconds < 0:
            raise ValueError("the simulator clock only moves forward")
        self._offset += seconds
        return self.now()


def _tz(offset_minutes: int) -> timezone:
    return timezone(timedelta(minutes=offset_minutes))


def format_ts(epoch_s: int, offset_minutes: int) -> str:
    """Format epoch seconds as Zoho does: 2025-11-13T10:30:00+0300 (no colon in the offset)."""
    return datetime.fromtimestamp(epoch_s, _tz(offset_minutes)).strftime("%Y-%m-%dT%H:%M:%S%z")


def format_date(epoch_s: int, offset_minutes: int) -> str:
    """Format epoch seconds as an org-local yyyy-mm-dd date."""
    return datetime.fromtimestamp(epoch_s, _tz(offset_minutes)).strftime("%Y-%m-%d")


_TS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})?)?$"
)


def parse_ts(text: str, offset_minutes: int) -> float:
    """Parse a Zoho filter timestamp to epoch seconds, or raise ValueError.

    Accepts ``+0300``, ``+03:00``, ``Z``, fractional seconds, no zone (org time) and a bare date
    (org midnight). A space where the ``+`` was (an unencoded ``+`` decodes to a space) is an
    error, so clients learn to send ``%2B``.
    """
    m = _TS.match(text)
    if m is None:
        raise ValueError(f"not a Zoho timestamp: {text!r}")
    year, month, day, hh, mm, ss, frac, zone = m.groups()
    if zone is None:
        tz = _tz(offset_minutes)
    elif zone == "Z":
        tz = UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = _tz(sign * (int(digits[:2]) * 60 + int(digits[2:])))
    moment = datetime(
        int(year),
        int(month),
        int(day),
        int(hh or 0),
        int(mm or 0),
        int(ss or 0),
        int(float(frac) * 1_000_000) if frac else 0,
        tzinfo=tz,
    )
    return moment.timestamp()


def org_day(epoch_s: float, offset_minutes: int) -> int:
    """Return the org-local day number, used for the daily quota window."""
    return int((epoch_s + offset_minutes * 60) // 86_400)
