"""CloudEvents headers and the topic catalogue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.cloudevents import ce_headers, header_map, parse_ce, replace_headers
from schemas.topics import (
    DEADLETTER,
    ENTITY_SYNCED,
    OUTBOUND,
    OUTBOUND_RESULTS,
    RAW_BULK,
    RAW_REALTIME,
    catalogue,
    entity_key,
    parse_key,
    retry_topic,
)


def test_headers_round_trip() -> None:
    when = datetime(2025, 11, 13, 7, 30, 0, 123456, tzinfo=UTC)
    headers = ce_headers("tds.entity.synced", "/tds/streams", event_id="abc", time=when,
                         subject="42:item:1")
    event = parse_ce(headers)
    assert (event.id, event.type, event.source, event.subject) == (
        "abc", "tds.entity.synced", "/tds/streams", "42:item:1")
    assert event.time == when
    assert header_map(headers)["ce_specversion"] == b"1.0"


def test_missing_ce_headers_are_named() -> None:
    with pytest.raises(ValueError, match="ce_id, ce_source"):
        parse_ce([("ce_type", b"x"), ("ce_time", b"2025-01-01T00:00:00Z")])


def test_replace_headers_replaces_not_appends() -> None:
    first = replace_headers([("a", b"1"), ("attempt", b"1")], [("attempt", b"2")])
    second = replace_headers(first, [("attempt", b"3")])
    assert [v for k, v in second if k == "attempt"] == [b"3"]
    assert ("a", b"1") in second


def test_catalogue_matches_design() -> None:
    specs = {s.name: s for s in catalogue(partitions=6, retry_levels=3)}
    assert specs[RAW_REALTIME].retention_ms == -1 and specs[RAW_BULK].cleanup == "delete"
    assert specs[ENTITY_SYNCED].cleanup == "compact"
    assert specs[DEADLETTER].retention_ms == -1
    assert specs[OUTBOUND].retention_ms == 7 * 24 * 3600 * 1000  # commands: delete, days
    assert specs[OUTBOUND_RESULTS].cleanup == "delete"
    assert [n for n in specs if n.startswith("tds.retry.")] == [
        "tds.retry.1", "tds.retry.2", "tds.retry.3"]
    with pytest.raises(ValueError):
        retry_topic(0)


def test_keys() -> None:
    key = entity_key("42", "item", "4815000000044208")
    assert key == b"42:item:4815000000044208"
    assert parse_key(key) == ("42", "item", "4815000000044208")
    with pytest.raises(ValueError):
        parse_key(b"42:item:")
