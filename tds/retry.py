"""The retry chain every stage shares: where a failed message goes next, and its headers.

A failure never blocks its partition. The message (key and value bytes unchanged) moves
to `tds.retry.<attempt>` with a due time, and after the last level to `tds.deadletter`.
Errors that can never succeed (`retriable = False`) go to the dead letters at once.
Headers are replaced on each hop, never appended, so a message carries one set.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.cloudevents import Headers, ce_headers, header_map, replace_headers
from schemas.topics import DEADLETTER, retry_topic
from tds.errors import TDSError

H_TOPIC = "tds_original_topic"
H_PARTITION = "tds_original_partition"
H_OFFSET = "tds_original_offset"
H_TIMESTAMP = "tds_original_timestamp_ms"
H_GROUP = "tds_consumer_group"
H_STAGE = "tds_stage"
H_ATTEMPT = "tds_attempt"
H_FIRST_FAILURE = "tds_first_failure_at"
H_DUE = "tds_due_at"
H_ERROR_CLASS = "tds_error_class"
H_ERROR_MESSAGE = "tds_error_message"
H_ERROR_TRACE = "tds_error_trace"
H_REASON = "tds_deadletter_reason"
H_CE_TYPE = "tds_original_ce_type"

RETRY_SCHEDULED = "tds.retry.scheduled"
DEADLETTER_ADDED = "tds.deadletter.added"
_MAX_MESSAGE = 1_000
_MAX_TRACE = 4_000


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Delay of each retry level; level i waits delays_s[i-1]."""

    delays_s: tuple[float, ...]

    @property
    def max_attempts(self) -> int:
        """Number of retry levels before the dead letters."""
        return len(self.delays_s)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message was first consumed, and by whom."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    group: str
    stage: str


@dataclass(frozen=True, slots=True)
class RetryState:
    """What the retry headers of a message say (attempt 0: it never failed)."""

    attempt: int
    origin: Origin | None
    first_failure_at: datetime | None
    due_at: datetime | None
    error_class: str | None
    error_message: str | None

    @property
    def is_retry(self) -> bool:
        """Whether the message came through the retry chain."""
        return self.attempt > 0


@dataclass(frozen=True, slots=True)
class Routing:
    """The decision for one failed message: the topic and the replaced headers.

    `reason` is "retry", or why it is dead: "invalid" (can never succeed) or "exhausted".
    """

    topic: str
    headers: Headers
    attempt: int
    due_at: datetime | None
    dead: bool
    reason: str


def _iso(when: datetime) -> bytes:
    return when.astimezone(UTC).isoformat().encode()


def is_retriable(error: BaseException) -> bool:
    """Whether another attempt may succeed: the error's own `retriable` flag; without one,
    our errors are taken as permanent and foreign ones (driver, network) as transient."""
    return bool(getattr(error, "retriable", not isinstance(error, TDSError)))


def read_state(headers: Sequence[tuple[str, bytes | str | None]] | None) -> RetryState:
    """Parse the retry headers a message carries (tolerant: bad values count as absent)."""
    found = header_map(headers)

    def text(name: str) -> str | None:
        value = found.get(name)
        return value.decode(errors="replace") if value is not None else None

    def number(name: str) -> int | None:
        value = text(name)
        return int(value) if value is not None and value.lstrip("-").isdigit() else None

    def when(name: str) -> datetime | None:
        value = text(name)
        try:
            return datetime.fromisoformat(value) if value else None
        except ValueError:
            return None

    topic, group, stage = text(H_TOPIC), text(H_GROUP), text(H_STAGE)
    partition, offset, stamp = number(H_PARTITION), number(H_OFFSET), number(H_TIMESTAMP)
    origin = None
    if topic is not None and partition is not None and offset is not None:
        origin = Origin(topic, partition, offset, stamp or 0, group or "", stage or "")
    return RetryState(
        attempt=number(H_ATTEMPT) or 0,
        origin=origin,
        first_failure_at=when(H_FIRST_FAILURE),
        due_at=when(H_DUE),
        error_class=text(H_ERROR_CLASS),
        error_message=text(H_ERROR_MESSAGE),
    )


def route_failure(
    policy: RetryPolicy,
    headers: Sequence[tuple[str, bytes | str | None]] | None,
    origin: Origin,
    error: BaseException,
    *,
    now: datetime | None = None,
    source: str = "/tds",
) -> Routing:
    """Decide where a message that just failed goes, and build its new headers.

    `origin` is where this delivery was consumed; when the message already came through
    the chain, the first origin in its headers is kept so the relay returns it there.
    """
    now = now or datetime.now(UTC)
    state = read_state(headers)
    first = state.origin or origin
    attempt = state.attempt + 1
    retriable = is_retriable(error)
    dead = not retriable or attempt > policy.max_attempts
    reason = "retry" if not dead else "invalid" if not retriable else "exhausted"
    due = None if dead else now + timedelta(seconds=policy.delays_s[attempt - 1])
    trace = "".join(traceback.format_exception(error))[-_MAX_TRACE:]
    updates: Headers = [
        (H_TOPIC, first.topic.encode()),
        (H_PARTITION, str(first.partition).encode()),
        (H_OFFSET, str(first.offset).encode()),
        (H_TIMESTAMP, str(first.timestamp_ms).encode()),
        (H_GROUP, first.group.encode()),
        (H_STAGE, first.stage.encode()),
        (H_ATTEMPT, str(attempt if not dead else state.attempt).encode()),
        (H_FIRST_FAILURE, _iso(state.first_failure_at or now)),
        (H_ERROR_CLASS, type(error).__name__.encode()),
        (H_ERROR_MESSAGE, str(error)[:_MAX_MESSAGE].encode(errors="replace")),
        (H_ERROR_TRACE, trace.encode(errors="replace")),
    ]
    if due is not None:
        updates.append((H_DUE, _iso(due)))
    if dead:
        updates.append((H_REASON, reason.encode()))
    found = header_map(headers)
    original_type = found.get(H_CE_TYPE) or found.get("ce_type")
    if original_type is not None:
        updates.append((H_CE_TYPE, original_type))
    # ce_id and ce_source stay: it is the same event; ce_type says where it is now.
    updates += [(name, value) for name, value in ce_headers(
        DEADLETTER_ADDED if dead else RETRY_SCHEDULED, source, time=now)
        if name in ("ce_type", "ce_time")]
    stale = [(H_DUE, b""), (H_REASON, b"")]  # a hop's due time or reason never lingers
    cleaned = [(n, v) for n, v in replace_headers(headers, stale) if (n, v) not in stale]
    merged = replace_headers(cleaned, updates)
    topic = DEADLETTER if dead else retry_topic(attempt)
    return Routing(topic=topic, headers=merged, attempt=attempt, due_at=due, dead=dead,
                   reason=reason)


def restore_headers(headers: Sequence[tuple[str, bytes | str | None]] | None) -> Headers:
    """Headers of a retry delivered back to its stage: the original ce_type again.

    The retry headers stay, so the stage knows the attempt number when it fails again.
    """
    found = header_map(headers)
    original = found.get(H_CE_TYPE)
    updates: Headers = [("ce_type", original)] if original is not None else []
    return replace_headers(headers, updates)
