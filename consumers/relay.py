"""`tds relay`: deliver each retry back to the stage that failed, never before it is due.

The relay consumes `tds.retry.1` … `tds.retry.N`. The head of a partition that is not
due yet pauses that partition and seeks back to it; the partition resumes at the due
time (Spring Kafka's non-blocking retries do the same), so other partitions and levels
keep flowing. Due times live in the message headers, so a restarted relay finds them
again from its committed offsets. A due message goes, key and value bytes unchanged, to
the topic and partition it first failed on (`tds_original_topic`/`_partition`), with its
original `ce_type` back and its retry headers kept, so the stage knows the attempt when
it fails again. The main topics never wait: a retry is a new message at their end.
Offsets are committed only after the broker acknowledged the delivery (at least once;
the version rule makes a repeat harmless).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from consumers.deadletters import DeliveryFailed
from schemas.cloudevents import Headers
from tds.kafka import consumer_config, producer_config
from tds.kafka_group import GroupMember
from tds.kafka_publisher import DeliveryCheck
from tds.metrics import Metrics
from tds.retry import read_state, restore_headers

logger = logging.getLogger(__name__)

_BATCH = 500


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """What the relay reads and where it may deliver."""

    bootstrap: str
    retry_topics: tuple[str, ...]
    group: str = "tds-relay"
    # Origin topic → topic to deliver to instead (e.g. a stage's own retry inbox).
    routes: Mapping[str, str] = field(default_factory=dict)
    poll_timeout_s: float = 0.5
    flush_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Wait:
    """Not due yet: pause the partition until `until` (epoch seconds)."""

    until: float


@dataclass(frozen=True, slots=True)
class Deliver:
    """Due: send to `topic` (partition when known) with `headers`."""

    topic: str
    partition: int | None
    headers: Headers


@dataclass(frozen=True, slots=True)
class Undeliverable:
    """No origin in the headers: nothing to deliver to (logged and skipped)."""

    reason: str


Plan = Wait | Deliver | Undeliverable


def plan(headers: Sequence[tuple[str, Any]] | None, now: float,
         routes: Mapping[str, str] | None = None) -> Plan:
    """What to do with one retry message at wall-clock time `now` (epoch seconds)."""
    state = read_state(headers)
    if state.origin is None:
        return Undeliverable("no tds_original_topic/partition/offset headers")
    if state.due_at is not None and state.due_at.timestamp() > now:
        return Wait(state.due_at.timestamp())
    target = (routes or {}).get(state.origin.topic, state.origin.topic)
    partition = state.origin.partition if target == state.origin.topic else None
    return Deliver(target, partition, restore_headers(headers))


class Relay:
    """A confluent-kafka consume → wait → produce loop over the retry topics."""

    def __init__(
        self,
        config: RelayConfig,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._metrics = metrics
        self._clock = clock
        self._member = GroupMember(
            consumer_config(config.bootstrap, config.group, **{"client.id": "tds-relay"}),
            config.retry_topics, name="relay", on_assign=self._on_assign,
            on_revoke=self._on_revoke)
        # Synchronous on purpose: a batch's offsets are committed only after its deliveries
        # were confirmed, from this thread (no event loop to bridge to).
        self._producer = Producer(producer_config(config.bootstrap, **{"client.id": "tds-relay"}))
        self._sent = DeliveryCheck(self._producer)
        self._paused: dict[tuple[str, int], float] = {}
        self._partitions: dict[str, int] = {}
        self.delivered = 0

    def run(self, stop: threading.Event) -> None:
        """Relay until `stop` is set; then commit what was delivered and close."""
        self._member.join()
        logger.info("relay %s: %s", self.config.group, ", ".join(self.config.retry_topics))
        try:
            while not stop.is_set():
                self.step()
        finally:
            self._member.close()
            self._producer.flush(self.config.flush_timeout_s)

    @property
    def _consumer(self) -> Consumer:
        return self._member.consumer  # pause, resume, seek: the relay's own

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("relay assigned %d partition(s)", len(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._paused.pop((tp.topic, tp.partition), None)

    def _resume_due(self, now: float) -> None:
        due = [tp for tp, until in self._paused.items() if until <= now]
        if due:
            self._consumer.resume([TopicPartition(topic, p) for topic, p in due])
            for tp in due:
                del self._paused[tp]

    def step(self) -> int:
        """One poll: deliver what is due, pause what is not; returns messages delivered."""
        now = self._clock()
        self._resume_due(now)
        timeout = self.config.poll_timeout_s
        if self._paused:
            timeout = max(0.0, min(timeout, min(self._paused.values()) - now))
        messages = self._member.fetch(_BATCH, timeout)
        now = self._clock()
        commits: dict[tuple[str, int], int] = {}
        sent = 0
        for message in messages:
            topic, partition = message.topic() or "", message.partition() or 0
            where = (topic, partition)
            if where in self._paused:
                continue  # behind a paused head: fetched again after the seek below
            decision = plan(message.headers(), now, self.config.routes)
            if isinstance(decision, Wait):
                self._consumer.pause([TopicPartition(topic, partition)])
                self._consumer.seek(TopicPartition(topic, partition, message.offset() or 0))
                self._paused[where] = decision.until
                continue
            if isinstance(decision, Deliver):
                self._deliver(message, decision)
                sent += 1
            else:
                logger.error("%s[%d]@%d cannot be relayed: %s", topic, partition,
                             message.offset(), decision.reason,
                             extra={"topic": topic, "partition": partition,
                                    "offset": message.offset()})
            commits[where] = (message.offset() or 0) + 1
        if commits:
            self._commit(commits)
        self.delivered += sent
        return sent

    def _partition(self, topic: str, wanted: int | None) -> int | None:
        if wanted is None:
            return None
        count = self._partitions.get(topic)
        if count is None:
            metadata = self._producer.list_topics(topic, timeout=10).topics.get(topic)
            count = len(metadata.partitions) if metadata is not None else 0
            self._partitions[topic] = count
        return wanted if 0 <= wanted < count else None

    def _deliver(self, message: Message, decision: Deliver) -> None:
        partition = self._partition(decision.topic, decision.partition)
        self._sent.produce(decision.topic, message.value(), message.key(),
                           headers=decision.headers,
                           partition=-1 if partition is None else partition)
        self._producer.poll(0)
        if self._metrics is not None:
            self._metrics.events_in.labels(message.topic() or "", "relay").inc()
            self._metrics.events_out.labels(decision.topic).inc()

    def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        missing = self._sent.confirm(self.config.flush_timeout_s)
        if missing is not None:
            # Not acknowledged: commit nothing; the messages come again after a restart.
            error = missing.errors[-1] if missing.errors else None
            raise DeliveryFailed(f"relay deliveries not acknowledged ({missing.left} pending, "
                                 f"error {error})")
        self._member.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                            asynchronous=False, failed="commit failed (deliveries will repeat)")

