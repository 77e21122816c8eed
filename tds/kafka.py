"""confluent-kafka client settings shared by every stage, so they are tuned in one place."""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from tds.errors import KafkaLoginError
from tds.kafka_security import KafkaSecurity
from tds.settings import Settings

logger = logging.getLogger(__name__)


class MessageLike(Protocol):
    """The part of confluent_kafka.Message the stages read (tests pass small stubs)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> list[tuple[str, bytes]] | None: ...
    def timestamp(self) -> tuple[int, int]: ...
    def error(self) -> KafkaError | None: ...


_security: KafkaSecurity | None = None


def use_security(security: KafkaSecurity) -> None:
    """Make `security` the TLS and SASL of every client this process builds (`tds` does,
    from its Settings; other processes read the environment on first use)."""
    global _security
    _security = security


def security() -> KafkaSecurity:
    """This process's Kafka TLS and SASL, read from the environment once."""
    global _security
    if _security is None:
        _security = Settings.from_env().kafka_security
    return _security


def client_config(bootstrap: str, **settings: Any) -> dict[str, Any]:
    """Any client's settings: TDS_KAFKA_CONFIG's, then `settings`, then TLS and SASL.

    Every producer, consumer and admin client of every process is built on this.
    """
    chosen = security()
    return {**dict(chosen.extra), "bootstrap.servers": bootstrap, **settings,
            **chosen.librdkafka()}


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Settings of a durable producer: idempotent, acks=all, small linger for batching."""
    return client_config(bootstrap, **{
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 200_000,
        "message.timeout.ms": 30_000,
        "client.id": "tds",
        **overrides,
    })


def consumer_config(bootstrap: str, group: str, **overrides: Any) -> dict[str, Any]:
    """Settings of a consumer that commits explicitly and sees only committed data."""
    return client_config(bootstrap, **{
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.partition.eof": False,
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
        "client.id": f"tds-{group}",
        **overrides,
    })


def admin_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Settings of an admin client."""
    return client_config(bootstrap, **{"client.id": "tds-admin", **overrides})


# librdkafka retries a refused login or an untrusted certificate for ever: at start-up
# these name the setting instead.
_LOGIN_ERRORS = {
    KafkaError._AUTHENTICATION: "Kafka refused the SASL login: check KAFKA_SASL_USERNAME, "
                                "KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM",
    KafkaError._SSL: "the TLS handshake with Kafka failed: check that KAFKA_SSL_CA_FILE "
                     "signed the broker's certificate, KAFKA_SSL_CHECK_HOSTNAME and "
                     "KAFKA_SSL_CERT_FILE/KAFKA_SSL_KEY_FILE",
}


def verify_login(bootstrap: str, *, timeout_s: float = 20.0) -> None:
    """Raise KafkaLoginError naming the settings when the brokers refuse this process's
    TLS or SASL; a broker that does not answer in `timeout_s` is left to the clients'
    own retries (it may be starting)."""
    refused: list[Any] = []  # KafkaErrors (error_cb's type says str too)
    admin = AdminClient(admin_config(bootstrap, error_cb=refused.append, log_level=0,
                                     **{"client.id": "tds-login-check"}))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=1.0)
            return
        except KafkaException:
            admin.poll(0)  # serves error_cb: the failed metadata request says only _TRANSPORT
        for error in refused:
            if error.code() in _LOGIN_ERRORS:
                raise KafkaLoginError(f"{_LOGIN_ERRORS[error.code()]} "
                                      f"(KAFKA_BOOTSTRAP_SERVERS={bootstrap}): {error.str()}")
        refused.clear()
    logger.warning("Kafka on %s did not answer in %.0f s; the clients keep trying",
                   bootstrap, timeout_s)


def read_to_end(consumer: Consumer, topic: str, ranges: Mapping[int, tuple[int, int]], *,
                batch_size: int = 10_000, wait_s: float = 0.5,
                deadline: float | None = None) -> Generator[list[Message], None, None]:
    """Read offsets [start, end) of each partition of `topic` by assignment, in batches.

    Yields after every fetch (an empty list when nothing came); returns once every
    partition reached its end. `start` may be OFFSET_BEGINNING. Transaction markers and
    compacted-away offsets are skipped over, so a range may hold fewer messages than
    offsets. A broken fetch raises KafkaException; partitions still unread at `deadline`
    (time.monotonic) raise TimeoutError.
    """
    todo = {p: end for p, (start, end) in ranges.items() if end > max(start, 0)}
    if not todo:
        return
    consumer.assign([TopicPartition(topic, p, ranges[p][0]) for p in todo])
    try:
        while todo:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: still {todo} to read at the deadline")
            batch: list[Message] = []
            for message in consumer.consume(batch_size, wait_s):
                partition, offset = message.partition(), message.offset()
                if partition not in todo or offset is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(error)
                    if offset >= todo[partition]:
                        del todo[partition]
                    continue
                if offset < todo[partition]:
                    batch.append(message)
                if offset + 1 >= todo[partition]:
                    del todo[partition]
            # Transaction markers take the last offsets: past them nothing comes, so ask
            # where the consumer stands (a local answer, no request).
            for p in list(todo):
                if consumer.position([TopicPartition(topic, p)])[0].offset >= todo[p]:
                    del todo[p]
            yield batch
    finally:
        consumer.unassign()


# Admin requests sent to a group's coordinator (describe_consumer_groups,
# list_consumer_group_offsets) crash librdkafka 2.16 when the coordinator moves or its
# connection drops, as at a broker restart (core dumps from our chaos runs):
# - SIGSEGV: an OffsetFetch answered NOT_COORDINATOR makes the admin client queue a
#   coordinator query on the consumer-group state an admin handle does not have
#   (rd_kafka_cgrp_op with a NULL group; librdkafka issue #5040);
# - SIGABRT: a coordinator request that fails to send frees its completion twice
#   (assert "eonce->refcnt > 0" in rd_kafka_admin_coord_response_parse; librdkafka
#   PR #5397).
# So long-lived processes read other groups through these instead: committed offsets
# through a consumer handle (the ordinary coordinator path) and group states through
# list_consumer_groups, which asks every broker, not a coordinator.


class GroupOffsets:
    """Committed offsets of other consumer groups, read through one consumer handle per
    group that never subscribes (so it joins nothing). Blocking: use from one thread."""

    def __init__(self, bootstrap: str, *, client_id: str) -> None:
        self._bootstrap, self._client_id = bootstrap, client_id
        self._consumers: dict[str, Consumer] = {}

    def committed(self, group: str, partitions: list[TopicPartition], timeout_s: float
                  ) -> list[TopicPartition]:
        """`group`'s committed offset of each partition (negative: none); raises
        KafkaException when the broker does not answer in time."""
        consumer = self._consumers.get(group)
        if consumer is None:
            consumer = Consumer(consumer_config(self._bootstrap, group,
                                                **{"client.id": self._client_id}))
            self._consumers[group] = consumer
        return list(consumer.committed(partitions, timeout=timeout_s))

    def close(self) -> None:
        """Close every handle."""
        for consumer in self._consumers.values():
            consumer.close()
        self._consumers.clear()


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """Committed offset (as the broker gave it), log end and their difference for one
    partition of one group."""

    group: str
    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def has_commit(self) -> bool:
        """Whether the group committed an offset here (librdkafka says none with -1001)."""
        return self.committed is not None and self.committed >= 0

    @property
    def lag(self) -> int:
        """Messages not yet consumed: all of them when the group never committed; none
        when the commit lies beyond the end (the topic was created again)."""
        start = self.committed if self.committed is not None and self.committed >= 0 else 0
        return max(0, self.end - start)


def partition_lags(group: str, committed: Iterable[TopicPartition],
                   ends: Mapping[tuple[str, int], int]) -> tuple[PartitionLag, ...]:
    """`group`'s lag on each partition of `ends` (topic, partition → log end), in order,
    from its committed offsets (GroupOffsets.committed; a partition left out: none)."""
    offsets = {(tp.topic, tp.partition): tp.offset for tp in committed}
    return tuple(PartitionLag(group, topic, partition, offsets.get((topic, partition)), end)
                 for (topic, partition), end in sorted(ends.items()))


# States of a group with live members (the rest: EMPTY, DEAD, UNKNOWN).
LIVE_GROUP_STATES = frozenset({"STABLE", "PREPARING_REBALANCING", "COMPLETING_REBALANCING"})


def group_state_name(state: Any) -> str:
    """"STABLE" of ConsumerGroupState.STABLE (and of the plain string)."""
    return str(getattr(state, "name", state)).rsplit(".", 1)[-1].upper()
