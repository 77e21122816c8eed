"""One consumer-group membership: the plumbing every group-consuming stage shares.

The batching consumer (projector, image cache, writer), the relay, the pollers' command
listener and the batched stream engine each keep their own policy (batches over
PostgreSQL-stored offsets, due times, commands, checkpoints); how they join a group,
fetch, commit and leave is this. Blocking, like
the Consumer under it: asyncio callers run it in a thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

logger = logging.getLogger(__name__)

Rebalance = Callable[[Consumer, list[TopicPartition]], None]
ErrorHook = Callable[[Message], None]


class GroupMember:
    """A Consumer (config from `tds.kafka.consumer_config`) subscribed to `topics` in its
    group; `name` says whose in logs ("relay", "group tds-projector")."""

    def __init__(self, config: Mapping[str, Any], topics: Sequence[str], *, name: str,
                 on_assign: Rebalance | None = None, on_revoke: Rebalance | None = None,
                 on_lost: Rebalance | None = None, on_error: ErrorHook | None = None,
                 factory: Callable[[dict[str, Any]], Consumer] = Consumer) -> None:
        self.name = name
        self._config = dict(config)
        self._topics = list(topics)
        self._on_assign, self._on_revoke, self._on_error = on_assign, on_revoke, on_error
        self._on_lost = on_lost or on_revoke  # lost partitions are revoked ones, unless told
        self._factory = factory
        self._consumer: Consumer | None = None

    @property
    def consumer(self) -> Consumer:
        """The client, for what is the stage's own (assign, seek, pause, committed)."""
        if self._consumer is None:
            raise RuntimeError(f"{self.name}: not in the group (join first)")
        return self._consumer

    def join(self) -> Consumer:
        """Build the client and subscribe; partitions come with the first fetch."""
        consumer = self._factory(self._config)
        callbacks: dict[str, Rebalance] = {}
        if self._on_assign is not None:
            callbacks["on_assign"] = self._on_assign
        if self._on_revoke is not None:
            callbacks["on_revoke"] = self._on_revoke
        if self._on_lost is not None:
            callbacks["on_lost"] = self._on_lost
        consumer.subscribe(self._topics, **callbacks)
        self._consumer = consumer
        return consumer

    def fetch(self, count: int, timeout_s: float) -> list[Message]:
        """Up to `count` messages within `timeout_s`, errors left out: a partition's end
        is skipped, any other error goes to `on_error` (which may raise), then the log."""
        kept = []
        for message in self.consumer.consume(count, timeout_s):
            error = message.error()
            if error is None:
                kept.append(message)
            elif error.code() != KafkaError._PARTITION_EOF:
                if self._on_error is not None:
                    self._on_error(message)
                logger.warning("%s: consumer error: %s", self.name, error)
        return kept

    def commit(self, *, offsets: list[TopicPartition] | None = None,
               message: Message | None = None, asynchronous: bool = True,
               failed: str = "Kafka commit failed", level: int = logging.WARNING) -> bool:
        """Commit `offsets` (or past `message`); a refusal is logged as `failed`, at
        `level`, and returns False (what it means is the caller's policy)."""
        try:
            if message is not None:
                self.consumer.commit(message=message, asynchronous=asynchronous)
            else:
                self.consumer.commit(offsets=offsets, asynchronous=asynchronous)
        except KafkaException as exc:
            logger.log(level, "%s: %s: %s", self.name, failed, exc)
            return False
        return True

    def close(self) -> None:
        """Leave the group (revoking what is held) and free the client."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()
