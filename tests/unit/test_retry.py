"""The retry chain's routing: levels, delays, dead letters, headers replaced not appended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.cloudevents import ce_headers, header_map
from tds.errors import TDSError
from tds.retry import (
    H_ATTEMPT,
    H_DUE,
    H_REASON,
    H_STAGE,
    Origin,
    RetryPolicy,
    read_state,
    restore_headers,
    route_failure,
)

NOW = datetime(2025, 11, 13, 7, 30, tzinfo=UTC)
POLICY = RetryPolicy((60.0, 120.0, 240.0))
ORIGIN = Origin("zoho.raw.realtime", 2, 41, 1_700_000_000_000, "tds-worker", "streams")


class Flaky(TDSError):
    """A retriable failure."""

    retriable = True


class Invalid(TDSError):
    """Input that can never succeed."""

    retriable = False


def test_a_message_walks_every_level_then_dies() -> None:
    headers = ce_headers("tds.entity.synced", "/tds/streams", event_id="ev-1")
    seen = []
    for hop in range(4):
        here = ORIGIN if hop == 0 else Origin(f"tds.retry.{hop}", 0, hop, 0, "relay", "relay")
        routing = route_failure(POLICY, headers, here, Flaky(f"boom {hop}"),
                                now=NOW + timedelta(minutes=hop))
        seen.append((routing.topic, routing.attempt, routing.dead))
        headers = routing.headers
        names = [n for n, _ in headers]
        assert len(names) == len(set(names)), f"duplicated headers at hop {hop}: {names}"
    assert seen == [("tds.retry.1", 1, False), ("tds.retry.2", 2, False),
                    ("tds.retry.3", 3, False), ("tds.deadletter", 4, True)]
    found = header_map(headers)
    assert found["ce_type"] == b"tds.deadletter.added"
    assert found["ce_id"] == b"ev-1"
    assert found[H_REASON] == b"exhausted"
    assert H_DUE not in found
    assert found[H_ATTEMPT] == b"3"  # attempts made before dying
    state = read_state(headers)
    assert state.origin == ORIGIN  # the first origin survives every hop
    assert state.first_failure_at == NOW
    assert state.error_message == "boom 3"


def test_due_times_double() -> None:
    first = route_failure(POLICY, [], ORIGIN, Flaky("x"), now=NOW)
    assert first.due_at == NOW + timedelta(seconds=60)
    second = route_failure(POLICY, first.headers, ORIGIN, Flaky("x"), now=NOW)
    assert second.due_at == NOW + timedelta(seconds=120)
    assert read_state(second.headers).due_at == NOW + timedelta(seconds=120)


def test_invalid_input_goes_straight_to_the_dead_letters() -> None:
    routing = route_failure(POLICY, [], ORIGIN, Invalid("missing item_id"), now=NOW)
    assert (routing.topic, routing.dead) == ("tds.deadletter", True)
    found = header_map(routing.headers)
    assert found[H_REASON] == b"invalid"
    assert found["tds_error_class"] == b"Invalid"
    assert found[H_STAGE] == b"streams"


def test_unknown_exceptions_are_retried() -> None:
    assert route_failure(POLICY, [], ORIGIN, RuntimeError("?"), now=NOW).topic == "tds.retry.1"


def test_zero_attempts_means_dead_letters_at_once() -> None:
    routing = route_failure(RetryPolicy(()), [], ORIGIN, Flaky("x"), now=NOW)
    assert routing.topic == "tds.deadletter"


def test_restore_brings_back_the_original_type() -> None:
    headers = ce_headers("tds.entity.synced", "/tds/streams")
    routed = route_failure(POLICY, headers, ORIGIN, Flaky("x"), now=NOW).headers
    assert header_map(routed)["ce_type"] == b"tds.retry.scheduled"
    back = header_map(restore_headers(routed))
    assert back["ce_type"] == b"tds.entity.synced"
    assert back[H_ATTEMPT] == b"1"


def test_garbage_headers_read_as_absent() -> None:
    state = read_state([(H_ATTEMPT, b"abc"), (H_DUE, b"yesterday")])
    assert (state.attempt, state.due_at, state.is_retry) == (0, None, False)
