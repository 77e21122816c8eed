"""Failures map onto the worker's own retry and dead-letter topic names."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.cloudevents import header_map
from streams.config import StreamsConfig
from streams.errors import FetchFailed, InvalidEvent
from streams.failures import FailureRouter
from tds.retry import RetryPolicy

NOW = datetime(2025, 11, 13, tzinfo=UTC)
CONFIG = StreamsConfig(bootstrap="x:1", app_id="w", retry_prefix="t.retry.",
                       deadletter_topic="t.dlq", retry_policy=RetryPolicy((1.0, 2.0)))


def test_retriable_walks_the_levels_then_dies() -> None:
    router = FailureRouter(CONFIG, lambda: NOW)
    headers: list[tuple[str, bytes | str]] = [("ce_type", b"zoho.webhook.received")]
    topics = []
    for _ in range(3):
        failed = router.route(key=b"k", value=b"v", headers=headers, topic="raw", partition=2,
                              offset=7, timestamp_ms=1, error=FetchFailed("down"))
        topics.append((failed.topic, failed.reason))
        headers = failed.headers
        assert (failed.key, failed.value) == (b"k", b"v")
    assert topics == [("t.retry.1", "retry"), ("t.retry.2", "retry"), ("t.dlq", "exhausted")]
    found = header_map(headers)
    assert found["tds_original_topic"] == b"raw" and found["tds_consumer_group"] == b"w"
    assert found["tds_stage"] == b"streams"


def test_invalid_goes_straight_to_the_dead_letters() -> None:
    failed = FailureRouter(CONFIG, lambda: NOW).route(
        key=None, value=b"v", headers=None, topic="raw", partition=0, offset=0,
        timestamp_ms=0, error=InvalidEvent("bad"))
    assert (failed.topic, failed.dead, failed.reason) == ("t.dlq", True, "invalid")
