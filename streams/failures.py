"""Where a message that failed in the worker goes: a retry level or the dead letters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.cloudevents import Headers, header_map
from streams.config import StreamsConfig
from tds.retry import H_REASON, Origin, route_failure


@dataclass(frozen=True, slots=True)
class FailedMessage:
    """A failed message, ready to send: key and value bytes unchanged, headers replaced."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    attempt: int
    dead: bool
    reason: str  # "retry", "invalid" or "exhausted"


class FailureRouter:
    """Routes failures with the shared retry policy onto this worker's topic names."""

    def __init__(self, config: StreamsConfig,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._config = config
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
        origin = Origin(topic, partition, offset, timestamp_ms, self._config.app_id,
                        self._config.stage)
        routing = route_failure(self._config.retry_policy, headers, origin, error,
                                now=self._clock(), source=self._config.source)
        if routing.dead:
            reason = header_map(routing.headers).get(H_REASON, b"exhausted").decode()
            target = self._config.deadletter_topic
        else:
            reason, target = "retry", self._config.retry_topic(routing.attempt)
        return FailedMessage(target, key, value, routing.headers, routing.attempt,
                             routing.dead, reason)
