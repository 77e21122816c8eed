"""Sync-run accounting: count a run's events and close it once all are processed.

A run's raw events are spread over every partition (keyed by record), so each worker
sends, per batch, one small ledger message per run and outcome with the number of
first-attempt events, keyed by run id, to the app's internal ledger topic; the owner of
the run id's ledger partition folds them into the `runs` state.
The poller's own lifecycle events (`tds.sync.started`, then `completed` or `failed` with
`sent`, how many raw events it published) are folded in the same way. When the poller
has finished and `seen` reaches `sent`, the worker publishes `tds.sync.completed` (or
`tds.sync.failed` when the poller failed) with seen / changed / unchanged / failed /
deleted; while events flow it repeats `tds.sync.started` with those counts every few
seconds, so a running run shows what it changed. A run with no ledger message for
`idle_timeout_s` is closed as `tds.sync.failed` ("stalled"): its poller died silently, or
some of its events could not be attributed (a raw value too corrupt to read its run id).

Counts are exact under exactly_once (the ledger message commits with the events); at
least once, a redelivery after a crash may count an event twice.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from schemas.events import SyncRunEvent

COUNTED_BY = "streams"
# Raw sources of polls → the run type they belong to.
RUN_TYPE_OF_SOURCE = {"poll.full": "full", "poll.incremental": "incremental",
                      "poll.stock": "stock", "poll.manual": "manual"}
OUTCOMES = ("changed", "deleted", "unchanged", "failed")
PROGRESS_US = 3_000_000  # a running run's counts are reported at most this often


@dataclass(frozen=True, slots=True)
class RunState:
    """What the worker knows about one run."""

    run_id: str
    run_type: str = "full"
    org_id: str = ""
    entity_types: list[str] = field(default_factory=list)
    started_at_us: int | None = None
    expected: int | None = None
    sent: int | None = None
    poller_status: str | None = None
    poller_error: str | None = None
    seen: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    deleted: int = 0
    last_activity_us: int = 0
    done: bool = False
    reported_us: int = 0  # when its counts were last reported while running

    def pack(self) -> bytes:
        """Bytes for the runs table."""
        return orjson.dumps(asdict(self))

    @classmethod
    def unpack(cls, data: bytes) -> RunState:
        """Read bytes written by `pack`."""
        return cls(**orjson.loads(data))

    @property
    def target(self) -> int | None:
        """How many events the run published, once the poller has said."""
        if self.poller_status not in ("completed", "failed"):
            return None
        if self.sent:
            return self.sent
        return self.expected if self.expected is not None else self.sent


def count_message(run_id: str, outcome: str, source: str, org_id: str, at_us: int,
                  n: int = 1) -> bytes:
    """A ledger message: `n` first-attempt events of `run_id` ended with `outcome` (one
    message per run and outcome per batch; `n` absent means 1, as faust's worker wrote)."""
    return orjson.dumps({"t": "count", "run": run_id, "o": outcome, "src": source,
                         "org": org_id, "at": at_us, "n": n})


def poller_message(event: SyncRunEvent, at_us: int) -> bytes:
    """A ledger message carrying a poller's lifecycle event."""
    return orjson.dumps({
        "t": "poller", "run": event.run_id, "status": event.status,
        "run_type": event.run_type, "org": event.org_id, "types": event.entity_types,
        "started": _us(event.started_at or (event.at if event.status == "started" else None)),
        "expected": event.expected, "sent": event.sent, "error": event.error, "at": at_us,
    })


def tick_message(run_id: str, at_us: int) -> bytes:
    """A ledger message asking the run's owner to check its idle deadline."""
    return orjson.dumps({"t": "tick", "run": run_id, "at": at_us})


def _us(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1_000_000)


def _at(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)


def apply(state: RunState | None, message: dict[str, Any], *, now_us: int,
          idle_timeout_s: float) -> tuple[RunState, SyncRunEvent | None]:
    """Fold one ledger message into the run; return the closing event when it closes."""
    run_id = str(message["run"])
    current = state or RunState(run_id=run_id, last_activity_us=now_us, reported_us=now_us)
    kind = message.get("t")
    if current.done:
        return current, None
    if kind == "count":
        outcome = message["o"]
        n = int(message.get("n", 1))
        current = replace(
            current,
            run_type=(current.run_type if current.poller_status
                      else RUN_TYPE_OF_SOURCE.get(message.get("src", ""), current.run_type)),
            org_id=current.org_id or str(message.get("org", "")),
            seen=current.seen + n,
            changed=current.changed + n * (outcome == "changed"),
            deleted=current.deleted + n * (outcome == "deleted"),
            unchanged=current.unchanged + n * (outcome == "unchanged"),
            failed=current.failed + n * (outcome == "failed"),
            started_at_us=current.started_at_us or int(message.get("at") or now_us),
            last_activity_us=now_us,
        )
    elif kind == "poller" and message.get("status") == "joined":
        return replace(current, done=True), None  # another run does its work and counts
    elif kind == "poller":
        status = message.get("status")
        ended = status in ("completed", "failed")
        current = replace(
            current,
            run_type=str(message.get("run_type") or current.run_type),
            org_id=str(message.get("org") or current.org_id),
            entity_types=list(message.get("types") or current.entity_types),
            started_at_us=message.get("started") or current.started_at_us,
            expected=message.get("expected", current.expected),
            sent=int(message.get("sent") or 0) if ended else current.sent,
            poller_status=status if ended or current.poller_status is None
            else current.poller_status,
            poller_error=message.get("error") if ended else current.poller_error,
            last_activity_us=now_us,
        )
    elif kind == "tick":
        idle_s = (now_us - current.last_activity_us) / 1_000_000
        if idle_s >= idle_timeout_s:
            target = current.target
            of = f" of {target}" if target is not None else ""
            error = (f"stalled: no event for {idle_s:.0f}s; processed {current.seen}{of} "
                     f"events (poller: {current.poller_status or 'no word'})")
            return _close(current, "failed", error, now_us)
        return current, None
    target = current.target
    if target is not None and current.seen >= target:
        status = "completed" if current.poller_status == "completed" else "failed"
        return _close(current, status, current.poller_error, now_us)
    if kind == "count" and now_us - current.reported_us >= PROGRESS_US:
        # While it runs: `started` again with what the run changed so far.
        current = replace(current, reported_us=now_us)
        return current, _event(current, "started", None, now_us)
    return current, None


def _close(state: RunState, status: str, error: str | None,
           now_us: int) -> tuple[RunState, SyncRunEvent]:
    return replace(state, done=True), _event(state, status, error, now_us)


def _event(state: RunState, status: str, error: str | None, now_us: int) -> SyncRunEvent:
    target = state.target
    return SyncRunEvent(
        event_id=str(uuid.uuid4()),
        run_id=state.run_id,
        status=status,
        run_type=state.run_type,
        source="zoho",
        org_id=state.org_id,
        entity_types=list(state.entity_types),
        at=_at(now_us),
        started_at=_at(state.started_at_us) if state.started_at_us else None,
        expected=state.expected,
        sent=target if target is not None else state.seen,
        seen=state.seen,
        changed=state.changed,
        unchanged=state.unchanged,
        failed=state.failed,
        deleted=state.deleted,
        error=error,
        configuration={"counted_by": COUNTED_BY},
    )
