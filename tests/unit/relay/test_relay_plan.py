"""The relay's decision per message: wait until due, deliver to the origin, or skip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consumers.deadletters import H_RETRIED_FROM, DeadLetter, retry_headers
from consumers.relay import Deliver, Undeliverable, Wait, plan
from schemas.cloudevents import ce_headers, header_map
from tds.retry import H_ATTEMPT, Origin, RetryPolicy, read_state, route_failure

NOW = datetime(2025, 11, 13, 7, 30, tzinfo=UTC)
ORIGIN = Origin("zoho.raw.realtime", 4, 41, 1_700_000_000_000, "tds-streams", "streams")


def _routed(delay: float = 60.0, attempts: int = 1) -> list[tuple[str, bytes | str]]:
    headers: list[tuple[str, bytes | str]] = list(ce_headers("zoho.webhook.received", "/web"))
    policy = RetryPolicy((delay,) * 5)
    for _ in range(attempts):
        headers = route_failure(policy, headers, ORIGIN, ConnectionError("x"), now=NOW).headers
    return headers


def test_not_due_waits_until_the_due_time() -> None:
    decision = plan(_routed(60.0), NOW.timestamp())
    assert decision == Wait((NOW + timedelta(seconds=60)).timestamp())
    assert isinstance(plan(_routed(60.0), NOW.timestamp() + 59.999), Wait)


def test_due_goes_back_to_the_origin_partition_with_its_type() -> None:
    decision = plan(_routed(60.0), NOW.timestamp() + 60)
    assert isinstance(decision, Deliver)
    assert (decision.topic, decision.partition) == ("zoho.raw.realtime", 4)
    found = header_map(decision.headers)
    assert found["ce_type"] == b"zoho.webhook.received"
    assert found[H_ATTEMPT] == b"1"  # the stage still knows how often it failed


def test_routes_override_the_destination() -> None:
    decision = plan(_routed(0.0), NOW.timestamp(), {"zoho.raw.realtime": "inbox"})
    assert isinstance(decision, Deliver) and (decision.topic, decision.partition) == (
        "inbox", None)


def test_no_origin_is_undeliverable() -> None:
    assert isinstance(plan([("ce_type", b"x")], NOW.timestamp()), Undeliverable)


def _letter(headers: list[tuple[str, bytes | str]]) -> DeadLetter:
    as_bytes = [(n, v if isinstance(v, bytes) else v.encode()) for n, v in headers]
    return DeadLetter(partition=2, offset=9, key=b"k", value=b"v", headers=list(as_bytes),
                      timestamp_ms=0, state=read_state(as_bytes))


def test_dead_letter_retry_headers_keep_or_reset_the_attempts() -> None:
    dead = _routed(1.0, attempts=6)
    letter = _letter(dead)
    assert letter.reason == "exhausted" and letter.id == "2:9" and letter.stage == "streams"
    assert letter.matches("2:9") and letter.matches(letter.event_id or "")
    kept = header_map(retry_headers(letter, reset=False, deadletter_topic="dlq"))
    assert kept["ce_type"] == b"zoho.webhook.received" and kept[H_ATTEMPT] == b"5"
    assert kept[H_RETRIED_FROM] == b"dlq:2:9"
    reset = header_map(retry_headers(letter, reset=True, deadletter_topic="dlq"))
    assert H_ATTEMPT not in reset and reset["tds_original_topic"] == b"zoho.raw.realtime"
