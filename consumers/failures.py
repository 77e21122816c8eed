"""Send messages a consumer could not handle into the shared retry chain (tds.retry).

Key and value bytes go unchanged to the topic the kernel's router (`tds.failures`) picks,
with the headers it builds. `flush` must return before the batch's transaction commits, so a
failure is never acknowledged without having been handed on (a crash in between sends
it again: the chain is at-least-once, and the version rule makes a repeat harmless).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Producer

from consumers.errors import ConsumerError
from schemas.topics import DEADLETTER, retry_topic
from tds import failures
from tds.kafka import MessageLike
from tds.kafka_publisher import DeliveryCheck
from tds.metrics import Metrics
from tds.retry import RetryPolicy

logger = logging.getLogger(__name__)


class RoutingUnavailable(ConsumerError):
    """Kafka did not acknowledge a message sent to the retry chain; the batch is retried."""

    retriable = True


@dataclass(frozen=True, slots=True)
class Routed:
    """One message handed to the retry chain."""

    topic: str
    attempt: int
    dead: bool


def _identity(topic: str) -> str:
    return topic


class FailureRouter:
    """Route failed messages of one consumer group and stage through the retry chain."""

    def __init__(
        self,
        *,
        producer: Producer,
        policy: RetryPolicy,
        group: str,
        stage: str,
        metrics: Metrics | None = None,
        topic_for: Callable[[str], str] = _identity,
        flush_timeout_s: float = 30.0,
    ) -> None:
        # Synchronous, not the asyncio publisher: a batch's routed messages are confirmed
        # at once by `flush`, which its handler runs in a thread before its commit.
        self._sent = DeliveryCheck(producer)
        self._router = failures.FailureRouter(
            policy=policy, group=group, stage=stage,
            deadletter_topic=topic_for(DEADLETTER),
            retry_topic=lambda attempt: topic_for(retry_topic(attempt)))
        self._stage = stage
        self._metrics = metrics
        self._flush_timeout_s = flush_timeout_s

    def route(self, message: MessageLike, error: BaseException) -> Routed:
        """Queue `message` for the retry level (or the dead letters) its history calls for."""
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        routing = self._router.route_message(message, error)
        target = routing.topic
        self._sent.produce(target, routing.value, routing.key, headers=routing.headers)
        logger.warning(
            "%s[%s]@%s %s: %s (%s); sent to %s", topic, partition, offset,
            type(error).__name__, error, "dead letter" if routing.dead else
            f"attempt {routing.attempt}", target,
            extra={"topic": topic, "partition": partition, "offset": offset})
        if self._metrics is not None:
            if routing.dead:
                self._metrics.dead_letters.labels(self._stage, routing.reason).inc()
            else:
                self._metrics.retries_scheduled.labels(self._stage, str(routing.attempt)).inc()
        return Routed(target, routing.attempt, routing.dead)

    @property
    def pending(self) -> int:
        """Messages routed since the last flush."""
        return self._sent.pending

    def flush(self) -> None:
        """Wait until Kafka acknowledged every routed message, or raise RoutingUnavailable."""
        if not self.pending:
            return
        missing = self._sent.confirm(self._flush_timeout_s)
        if missing is not None:
            raise RoutingUnavailable(f"retry chain not acknowledged ({missing.left} unsent, "
                                     f"errors: {list(missing.errors[:3])})")
