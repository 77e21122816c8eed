"""Stand-ins for Kafka in webhook tests: a stub Producer and a stub publisher."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from confluent_kafka import KafkaError

from tds.kafka_publisher import Delivery, DeliveryCallback, Headers


@dataclass(frozen=True)
class StubMessage:
    """What a delivery report carries."""

    _topic: str
    _partition: int
    _offset: int

    def topic(self) -> str | None:
        return self._topic

    def partition(self) -> int | None:
        return self._partition

    def offset(self) -> int | None:
        return self._offset


@dataclass
class _Queued:
    topic: str
    value: bytes | str | None
    key: bytes | str | None
    headers: list[tuple[str, str | bytes]] | None
    on_delivery: DeliveryCallback | None
    error: KafkaError | None = None


class StubProducer:
    """A Producer whose queue holds `capacity` messages until `release()` lets poll serve them."""

    def __init__(self, capacity: int = 100) -> None:
        self.capacity = capacity
        self.queue: list[_Queued] = []
        self.delivered: list[_Queued] = []
        self.purged = 0
        self._ready = threading.Condition()
        self._released = 0
        self.fail_with: KafkaError | None = None  # delivery error for released messages
        self.stuck = False  # True: flush() delivers nothing (the broker is gone)
        self.auto_ack = False  # True: poll() acknowledges everything queued
        self.polls = 0  # poll() calls that returned: a test waits on these, not on a clock

    def produce(self, topic: str, value: str | bytes | None = None,
                key: str | bytes | None = None, *, on_delivery: DeliveryCallback | None = None,
                headers: list[tuple[str, str | bytes]] | None = None,
                partition: int = -1) -> None:
        with self._ready:
            if len(self.queue) >= self.capacity:
                raise BufferError("Local: Queue full")
            self.queue.append(_Queued(topic, value, key, headers, on_delivery))

    def release(self, count: int | None = None) -> None:
        """Let the next `count` (default all) queued messages be acknowledged by poll()."""
        with self._ready:
            self._released = len(self.queue) if count is None else min(count, len(self.queue))
            self._ready.notify_all()

    def poll(self, timeout: float | None = None) -> int:
        with self._ready:
            if self.auto_ack:
                self._released = len(self.queue)
            if not self._released:
                self._ready.wait(timeout)
            served, self.queue = self.queue[:self._released], self.queue[self._released:]
            self._released = 0
            self.polls += 1
        for item in served:
            self.delivered.append(item)
            if item.on_delivery is not None:
                offset = len(self.delivered) - 1
                item.on_delivery(self.fail_with, StubMessage(item.topic, 0, offset))
        return len(served)

    def flush(self, timeout: float | None = None) -> int:
        if not self.stuck:
            self.release()
        self.poll(0)
        return len(self.queue)

    def purge(self, in_queue: bool = True, in_flight: bool = True,
              blocking: bool = True) -> None:
        with self._ready:
            purged, self.queue = self.queue, []
        self.purged += len(purged)
        for item in purged:
            if item.on_delivery is not None:
                error = KafkaError(KafkaError._PURGE_QUEUE)
                item.on_delivery(error, StubMessage(item.topic, 0, -1))

    def __len__(self) -> int:
        return len(self.queue)


@dataclass(frozen=True)
class Published:
    """One message a StubPublisher took."""

    topic: str
    value: bytes
    key: bytes | None
    headers: list[tuple[str, str | bytes]]


@dataclass
class StubPublisher:
    """A publisher that records messages, or raises `fail` when set."""

    published: list[Published] = field(default_factory=list, repr=False)
    fail: Exception | None = None

    async def publish(self, topic: str, value: bytes, *, key: bytes | None = None,
                      headers: Headers | None = None, partition: int = -1) -> Delivery:
        if self.fail is not None:
            raise self.fail
        self.published.append(Published(topic, value, key, list(headers or ())))
        return Delivery(topic, 0, len(self.published) - 1)
