"""The one failure router of every stage: where a failed message goes, under which reason.

The decision is `tds.retry.route_failure`'s; this adds the stage's own topic names (tests
run on unique topics) and the message itself, so a host only has to send the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.cloudevents import Headers
from schemas.topics import DEADLETTER, retry_topic
from tds.kafka import MessageLike
from tds.retry import Origin, RetryPolicy, route_failure


@dataclass(frozen=True, slots=True)
class FailedMessage:
    """A failed message, ready to send: key and value bytes unchanged, headers replaced."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    attempt: int
    dead: bool
    reason: str  # "retry", "invalid" or "exhausted" (tds.retry.Routing)


def _now() -> datetime:
    return datetime.now(UTC)


class FailureRouter:
    """Routes the failures of one consumer group and stage onto its topic names."""

    def __init__(
        self,
        *,
        policy: RetryPolicy,
        group: str,
        stage: str,
        source: str | None = None,
        deadletter_topic: str = DEADLETTER,
        retry_topic: Callable[[int], str] = retry_topic,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._policy = policy
        self._group, self._stage = group, stage
        self._source = source or f"/tds/{stage}"
        self._deadletter_topic = deadletter_topic
        self._retry_topic = retry_topic
        self._clock = clock

    def route(
        self,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, Any]] | None,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int,
        error: BaseException,
    ) -> FailedMessage:
        """Decide where the message goes next and build its headers."""
        origin = Origin(topic, partition, offset, timestamp_ms, self._group, self._stage)
        routing = route_failure(self._policy, headers, origin, error, now=self._clock(),
                                source=self._source)
        target = (self._deadletter_topic if routing.dead
                  else self._retry_topic(routing.attempt))
        return FailedMessage(target, key, value, routing.headers, routing.attempt,
                             routing.dead, routing.reason)

    def route_message(self, message: MessageLike, error: BaseException) -> FailedMessage:
        """`route` for a consumed message (absent fields and timestamps count as 0)."""
        _, stamp = message.timestamp()
        return self.route(key=message.key(), value=message.value(),
                          headers=message.headers(), topic=message.topic() or "",
                          partition=message.partition() or 0, offset=message.offset() or 0,
                          timestamp_ms=max(stamp, 0), error=error)
