"""confluent-kafka client settings shared by every stage, so they are tuned in one place."""

from __future__ import annotations

from typing import Any, Protocol

from confluent_kafka import KafkaError


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


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Settings of a durable producer: idempotent, acks=all, small linger for batching."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 200_000,
        "message.timeout.ms": 30_000,
        "client.id": "tds",
    }
    config.update(overrides)
    return config


def consumer_config(bootstrap: str, group: str, **overrides: Any) -> dict[str, Any]:
    """Settings of a consumer that commits explicitly and sees only committed data."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.partition.eof": False,
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
        "client.id": f"tds-{group}",
    }
    config.update(overrides)
    return config


def admin_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Settings of an admin client."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "client.id": "tds-admin"}
    config.update(overrides)
    return config
