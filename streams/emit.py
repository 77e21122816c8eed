"""The worker's one producer: outputs, retries, dead letters, ledger and changelog records.

At least once, a checkpoint is `flush()` (every output acknowledged), then the changelog,
then the consumer commits once the changelog is acknowledged too: by the next
checkpoint's `flush()`, or by a second one when it is the last (`streams.engine`).
Delivery reports are asked for failures only (`delivery.report.only.error`), so a healthy
event costs no Python callback; any failed delivery makes the next `flush()` raise, and
the worker stops before committing past it.

Exactly once, everything between two checkpoints is one Kafka transaction that also
carries the consumed offsets (`send_offsets_to_transaction`, fenced by the consumer
group's generation, KIP-447), so `read_committed` readers see a batch's outputs, its
state and its offsets together or not at all.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from schemas.cloudevents import Headers
from streams.errors import DeliveryFailed
from tds.kafka import producer_config

logger = logging.getLogger(__name__)


class Outbox:
    """Queues messages on a confluent-kafka producer and checks that they were delivered."""

    def __init__(self, bootstrap: str, *, linger_ms: int, transactional_id: str | None = None,
                 transaction_timeout_s: float = 15.0) -> None:
        overrides: dict[str, Any] = {
            "linger.ms": linger_ms,
            "delivery.report.only.error": True,
            "queue.buffering.max.messages": 500_000,
            "batch.num.messages": 10_000,
            "error_cb": self._on_error,
            "on_delivery": self._delivered,  # one callback for all: none passed per message
        }
        if transactional_id is not None:
            # Short: a killed worker's open transaction blocks read_committed readers of
            # its partitions until the broker aborts it.
            overrides["transactional.id"] = transactional_id
            overrides["transaction.timeout.ms"] = int(transaction_timeout_s * 1000)
            overrides["message.timeout.ms"] = int(transaction_timeout_s * 1000)
        else:
            # A broker restart takes tens of seconds under load: wait it out. Failing at
            # 30 s crashed the worker, and faust's stop after a crash takes a minute more.
            overrides["message.timeout.ms"] = 120_000
        self._producer = Producer(producer_config(bootstrap, **overrides))
        self._failures: list[str] = []
        self.transactional = transactional_id is not None
        self.pending = 0  # messages queued since the last flush or commit
        self._in_transaction = False
        if self.transactional:
            self._producer.init_transactions(30)

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._failures.append(f"fatal producer error: {error}")
        else:
            logger.warning("producer: %s", error)

    def _delivered(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            self._failures.append(f"{message.topic()}[{message.partition()}]: {error}")

    def begin(self) -> None:
        """Open a transaction when exactly once (no-op otherwise, or when one is open)."""
        if self.transactional and not self._in_transaction:
            self._producer.begin_transaction()
            self._in_transaction = True

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             headers: Headers | None = None, partition: int = -1) -> None:
        """Queue one message (waits for room when the local queue is full)."""
        while True:
            try:
                self._producer.produce(topic, value, key, partition, headers=headers)
                self.pending += 1
                return
            except BufferError:
                self._producer.poll(0.05)

    def changelog(self, topic: str, *, key: bytes, value: bytes | None,
                  partition: int) -> None:
        """Queue one state record (the signature `ChangelogState.flush_to` calls)."""
        self.send(topic, key, value, None, partition)

    def poll(self) -> None:
        """Serve delivery reports without waiting."""
        self._producer.poll(0)

    def settle(self, timeout_s: float) -> int:
        """Wait up to `timeout_s` for acknowledgements; how many messages still wait."""
        left: int = self._producer.flush(timeout_s)
        return left

    def flush(self, timeout_s: float = 150.0) -> None:
        """Wait until every queued message is acknowledged; DeliveryFailed otherwise."""
        left = self._producer.flush(timeout_s)
        self.pending = 0
        if left:
            self._failures.append(f"{left} messages not delivered in {timeout_s}s")
        self.check()

    def check(self) -> None:
        """Raise DeliveryFailed for any delivery that failed so far."""
        if self._failures:
            raise DeliveryFailed("; ".join(self._failures[:5]))

    def commit(self, offsets: list[TopicPartition], group_metadata: Any) -> None:
        """Exactly once: commit the open transaction with the consumed `offsets`."""
        if not self._in_transaction:
            self.begin()
        try:
            if offsets:
                self._producer.send_offsets_to_transaction(offsets, group_metadata, 30)
            self._producer.commit_transaction(60)
        except KafkaException as exc:
            raise DeliveryFailed(f"transaction commit failed: {exc}") from exc
        finally:
            self._in_transaction = False
            self.pending = 0
        self.check()

    def abort(self) -> None:
        """Exactly once: drop the open transaction's outputs (best effort)."""
        if self._in_transaction:
            self._in_transaction = False
            try:
                self._producer.abort_transaction(30)
            except KafkaException as exc:
                logger.warning("abort failed: %s", exc)

    def close(self, timeout_s: float = 30.0) -> None:
        """Deliver what is queued (at least once) or abort (exactly once)."""
        if self.transactional:
            self.abort()
        else:
            self._producer.flush(timeout_s)


def transactional_id(app_id: str) -> str:
    """A transactional id per process; fencing comes from the group generation (KIP-447),
    so it need not be tied to partitions."""
    return f"{app_id}-{uuid.uuid4().hex[:12]}"
