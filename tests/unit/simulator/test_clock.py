"""Zoho timestamp formatting and the filter parser's accepted variants."""

from __future__ import annotations

import pytest

from simulator.clock import SimClock, format_date, format_ts, org_day, parse_ts

EPOCH = 1_763_029_800  # 2025-11-13T10:30:00Z


def test_format_uses_the_offset_without_colon() -> None:
    assert format_ts(EPOCH, 180) == "2025-11-13T13:30:00+0300"
    assert format_ts(EPOCH, -480) == "2025-11-13T02:30:00-0800"
    assert format_date(EPOCH, 180) == "2025-11-13"


@pytest.mark.parametrize(
    "text",
    [
        "2025-11-13T13:30:00+0300",
        "2025-11-13T13:30:00+03:00",
        "2025-11-13T10:30:00Z",
        "2025-11-13T10:30:00.000Z",
        "2025-11-13T02:30:00-0800",
        "2025-11-13T13:30:00",
    ],
)
def test_parse_variants(text: str) -> None:
    assert parse_ts(text, 180) == EPOCH


@pytest.mark.parametrize(
    "text", ["2025-11-13T13:30:00 0300", "2025-13-01T00:00:00Z", "13/11/2025", "", "now"]
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ts(text, 180)


def test_date_only_is_org_midnight() -> None:
    assert format_ts(int(parse_ts("2025-11-13", 180)), 180) == "2025-11-13T00:00:00+0300"


def test_manual_clock_and_org_day() -> None:
    clock = SimClock(1000.0)
    assert clock.manual and clock.now() == 1000.0
    assert clock.advance(5) == 1005.0
    with pytest.raises(ValueError):
        clock.advance(-1)
    wall = SimClock(wall=lambda: 50.0)
    assert not wall.manual and wall.now() == 50.0
    assert org_day(86_400 - 3 * 3600, 180) == 1  # midnight in +0300 comes 3 h before UTC's
