"""A small asyncio front for confluent-kafka's Producer, for the pollers.

Pollers publish a page at a time and wait for every acknowledgement before moving
their cursor; `send_all` does exactly that. A daemon thread polls the producer and
hands delivery reports back to the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

from producers.pollers.errors import PublishError
from producers.pollers.messages import Message
from tds.metrics import Metrics

logger = logging.getLogger(__name__)

_QUEUE_FULL_RETRIES = 200  # x 50 ms: wait up to 10 s for room in the local queue


class Sink(Protocol):
    """Where pollers send messages (the Kafka publisher, or a list in unit tests)."""

    async def send_all(self, topic: str, messages: Iterable[Message]) -> int:
        """Publish every message and wait until all are acknowledged; return the count."""
        ...


class KafkaPublisher:
    """Produce with acks=all (idempotent) and await acknowledgements from asyncio."""

    def __init__(self, config: Mapping[str, Any], *, metrics: Metrics | None = None) -> None:
        try:
            self._producer = Producer(dict(config))
        except KafkaException as exc:
            raise PublishError(f"cannot create a Kafka producer: {exc}") from exc
        self._metrics = metrics
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> KafkaPublisher:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._poll, name="tds-poller-publish",
                                        daemon=True)
        self._thread.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def close(self, timeout_s: float = 15.0) -> None:
        """Flush what is queued, then stop the poll thread."""
        loop = asyncio.get_running_loop()
        left = await loop.run_in_executor(None, self._producer.flush, timeout_s)
        if left:
            logger.warning("%d poller messages were not delivered before close", left)
        self._stop.set()
        if self._thread is not None:
            await loop.run_in_executor(None, self._thread.join, 5.0)

    async def _produce(self, topic: str, message: Message) -> asyncio.Future[None]:
        loop = self._loop
        if loop is None:
            raise PublishError("the publisher is not started (use `async with`)")
        future: asyncio.Future[None] = loop.create_future()

        def settle(err: KafkaError | None) -> None:
            if future.done():
                return
            if err is None:
                future.set_result(None)
            else:
                future.set_exception(PublishError(f"Kafka refused a message on {topic}: {err}"))

        def on_delivery(err: KafkaError | None, _msg: object) -> None:
            loop.call_soon_threadsafe(settle, err)

        for _ in range(_QUEUE_FULL_RETRIES):
            try:
                self._producer.produce(topic, message.value, message.key,
                                       headers=list(message.headers), on_delivery=on_delivery)
                return future
            except BufferError:
                await asyncio.sleep(0.05)  # the local queue is full: let deliveries drain
            except KafkaException as exc:
                raise PublishError(f"cannot produce to {topic}: {exc}") from exc
        raise PublishError(f"the Kafka producer queue stayed full; is {topic} reachable?")

    async def send_all(self, topic: str, messages: Iterable[Message]) -> int:
        """Publish every message and wait until all are acknowledged; return the count."""
        futures = [await self._produce(topic, m) for m in messages]
        if futures:
            await asyncio.gather(*futures)
        if self._metrics is not None and futures:
            self._metrics.events_out.labels(topic=topic).inc(len(futures))
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
