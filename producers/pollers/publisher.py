"""The pollers' sink: `send_all` over the kernel's asyncio publisher (tds.kafka_publisher).

Pollers publish a page at a time and wait for every acknowledgement before moving
their cursor; `send_all` does exactly that, waiting for room when the local queue is
full (a page must go whole), and reports any failure as the pollers' PublishError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from producers.pollers.errors import PublishError
from producers.pollers.messages import Message
from tds import kafka_publisher
from tds.kafka_publisher import Delivery, Publisher, QueueFullError
from tds.metrics import Metrics

_QUEUE_FULL_RETRIES = 200  # x 50 ms: wait up to 10 s for room in the local queue
_POLL_S = 0.05


class Sink(Protocol):
    """Where pollers send messages (the Kafka publisher, or a list in unit tests)."""

    async def send_all(self, topic: str, messages: Iterable[Message]) -> int:
        """Publish every message and wait until all are acknowledged; return the count."""
        ...


class KafkaPublisher:
    """Produce with acks=all (idempotent) and await acknowledgements from asyncio."""

    def __init__(self, config: Mapping[str, Any] | Publisher, *,
                 metrics: Metrics | None = None) -> None:
        if isinstance(config, Publisher):  # one already built (tests: over a stub producer)
            self._publisher = config
            return
        try:
            self._publisher = Publisher.create(config, metrics=metrics, poll_timeout_s=_POLL_S)
        except kafka_publisher.PublishError as exc:
            raise PublishError(str(exc)) from exc

    async def __aenter__(self) -> KafkaPublisher:
        await self._publisher.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, timeout_s: float = 15.0) -> None:
        """Flush what is queued (what is left after `timeout_s` is dropped, and logged)."""
        await self._publisher.close(timeout_s)

    async def _enqueue(self, topic: str, message: Message) -> asyncio.Future[Delivery]:
        for _ in range(_QUEUE_FULL_RETRIES):
            try:
                return self._publisher.publish_nowait(topic, message.value, key=message.key,
                                                      headers=message.headers)
            except QueueFullError:
                await asyncio.sleep(_POLL_S)  # let deliveries drain the local queue
        raise PublishError(f"the Kafka producer queue stayed full; is {topic} reachable?")

    async def send_all(self, topic: str, messages: Iterable[Message]) -> int:
        """Publish every message and wait until all are acknowledged; return the count."""
        try:
            futures = [await self._enqueue(topic, m) for m in messages]
            if futures:
                await asyncio.gather(*futures)
        except kafka_publisher.PublishError as exc:
            raise PublishError(str(exc)) from exc
        return len(futures)


class MemorySink:
    """Collects messages per topic (unit tests, dry runs)."""

    def __init__(self) -> None:
        self.topics: dict[str, list[Message]] = {}

    async def send_all(self, topic: str, messages: Iterable[Message]) -> int:
        """Append the messages."""
        batch = list(messages)
        self.topics.setdefault(topic, []).extend(batch)
        return len(batch)
