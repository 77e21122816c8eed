"""Sync-run accounting: counts fold in any order; the run closes once all are processed."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from schemas.events import SyncRunEvent
from streams.runs import RunState, apply, count_message, poller_message, tick_message

T = datetime(2025, 11, 13, tzinfo=UTC)
US = int(T.timestamp() * 1_000_000)


def poller(status: str, sent: int = 0, error: str | None = None) -> dict[str, object]:
    event = SyncRunEvent(event_id="p", run_id="r1", status=status, run_type="full",
                         source="zoho", org_id="42", entity_types=["item"], at=T,
                         started_at=T, sent=sent, error=error)
    loaded: dict[str, object] = orjson.loads(poller_message(event, US))
    return loaded


def count(outcome: str) -> dict[str, object]:
    loaded: dict[str, object] = orjson.loads(count_message("r1", outcome, "poll.full", "42", US))
    return loaded


def fold(messages: list[dict[str, object]], idle: float = 60.0,
         now_us: int = US) -> tuple[RunState | None, list[SyncRunEvent]]:
    state: RunState | None = None
    closed = []
    for message in messages:
        state, event = apply(state, message, now_us=now_us, idle_timeout_s=idle)
        state = RunState.unpack(state.pack())  # through the table's bytes
        if event is not None:
            closed.append(event)
    return state, closed


def test_completes_once_seen_reaches_sent_in_any_order() -> None:
    counts = [count("changed"), count("unchanged"), count("deleted"), count("failed")]
    for messages in ([poller("started"), *counts, poller("completed", 4)],
                     [*counts[:2], poller("completed", 4), *counts[2:]],
                     [poller("completed", 4), *counts]):
        state, closed = fold(messages)
        assert len(closed) == 1, messages
        event = closed[0]
        assert (event.status, event.seen, event.changed, event.unchanged, event.deleted,
                event.failed, event.sent) == ("completed", 4, 1, 1, 1, 1, 4)
        assert event.configuration == {"counted_by": "streams"}
        assert state is not None and state.done


def test_does_not_close_before_the_poller_has_finished() -> None:
    _, closed = fold([poller("started"), count("changed"), count("changed")])
    assert closed == []


def test_failed_poller_closes_as_failed_with_counts() -> None:
    _, closed = fold([count("changed"), poller("failed", 1, error="ZohoRateLimited")])
    assert (closed[0].status, closed[0].error, closed[0].changed) == (
        "failed", "ZohoRateLimited", 1)


def test_a_stalled_run_fails_on_the_idle_timeout() -> None:
    state, _ = fold([poller("started"), count("changed")])
    later = US + 120 * 1_000_000
    tick = orjson.loads(tick_message("r1", later))
    _, early = apply(state, tick, now_us=US + 10, idle_timeout_s=60)
    assert early is None
    _, event = apply(state, tick, now_us=later, idle_timeout_s=60)
    assert event is not None and event.status == "failed"
    assert event.error is not None and "stalled" in event.error


def test_run_type_comes_from_the_raw_source_until_the_poller_says() -> None:
    state, _ = fold([count("changed")])
    assert state is not None and state.run_type == "full"
    stock = orjson.loads(count_message("r2", "changed", "poll.stock", "42", US))
    state2, _ = apply(None, stock, now_us=US, idle_timeout_s=60)
    assert state2.run_type == "stock"


def test_a_running_run_reports_what_it_changed_every_few_seconds() -> None:
    state, _ = fold([poller("started")])
    reports = []
    for second in range(8):  # a count message a second
        state, event = apply(state, count("changed"), now_us=US + second * 1_000_000,
                             idle_timeout_s=60)
        if event is not None:
            reports.append((second, event.status, event.changed))
    assert reports == [(3, "started", 4), (6, "started", 7)]
    assert state is not None and not state.done
