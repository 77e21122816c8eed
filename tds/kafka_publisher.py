"""Publish to Kafka from asyncio: confluent-kafka's Producer bridged to futures.

`publish()` runs `produce()` on the event loop, which only enqueues into librdkafka's local
queue and never blocks: a full queue raises `QueueFullError` at once, so a caller can
answer "try later" instead of stalling. One daemon thread polls the producer; delivery
reports collected during one `poll()` go back to the loop with one `call_soon_threadsafe`,
where they resolve the futures. With `loop_poll_s` the loop itself polls instead (no
thread, less CPU per message, up to a timer tick more latency). `close()` flushes.

The one asyncio bridge of every stage: the webhook receiver, the admin API, the writer
and (through `producers.pollers.publisher`) the pollers. Code without an event loop (the
relay's thread, the failure routers, `tds dlq retry`, `tds produce`) checks delivery with
`DeliveryCheck` instead: queue, then flush and see what Kafka did not acknowledge.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

from tds.errors import TDSError
from tds.metrics import Metrics

logger = logging.getLogger(__name__)

Headers = Sequence[tuple[str, str | bytes]]


class DeliveredMessage(Protocol):
    """The part of a delivery report's confluent_kafka.Message the publisher reads."""

    def topic(self) -> str | None: ...

    def partition(self) -> int | None: ...

    def offset(self) -> int | None: ...


DeliveryCallback = Callable[[KafkaError | None, DeliveredMessage], None]


class PublishError(TDSError):
    """Kafka did not acknowledge a message; `retriable` says whether re-sending may work."""

    retriable = True

    def __init__(self, message: str, *, topic: str, code: str | None = None,
                 retriable: bool = True) -> None:
        self.topic, self.code, self.retriable = topic, code, retriable
        super().__init__(message)


class QueueFullError(PublishError):
    """The producer's local queue is full (the broker is slow or down): back off, retry."""


class PublisherClosedError(PublishError):
    """The publisher is not running: not started yet, or shut down."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where Kafka stored an acknowledged message."""

    topic: str
    partition: int
    offset: int


class ProducerLike(Protocol):
    """The part of confluent_kafka.Producer the publisher uses (tests pass a stub)."""

    def produce(self, topic: str, value: str | bytes | None = None,
                key: str | bytes | None = None, *,
                on_delivery: DeliveryCallback | None = None,
                headers: list[tuple[str, str | bytes]] | None = None,
                partition: int = -1) -> None: ...

    def poll(self, timeout: float | None = None) -> int: ...

    def flush(self, timeout: float | None = None) -> int: ...

    def purge(self, in_queue: bool = True, in_flight: bool = True,
              blocking: bool = True) -> None: ...

    def __len__(self) -> int: ...


class Publishing(Protocol):
    """What a stage needs to publish: the publisher, or a stub in tests."""

    async def publish(self, topic: str, value: bytes, *, key: bytes | None = None,
                      headers: Headers | None = None, partition: int = -1) -> Delivery: ...


_IDLE_POLL_S = 1.0  # loop-driven polling with nothing in flight
_Report = tuple["asyncio.Future[Delivery]", KafkaError | None, DeliveredMessage]


class Publisher:
    """An asyncio front for one confluent-kafka Producer; start, publish, close."""

    def __init__(self, *, producer: ProducerLike, metrics: Metrics | None = None,
                 poll_timeout_s: float = 0.1, loop_poll_s: float | None = None) -> None:
        self._producer = producer
        self._metrics = metrics
        self._poll_timeout_s = poll_timeout_s
        self._loop_poll_s = loop_poll_s  # set: poll from the loop every so often, no thread
        self._pump: asyncio.TimerHandle | None = None
        self._pump_soon = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._reports: list[_Report] = []  # filled by callbacks inside poll()/flush()
        self._pending: set[asyncio.Future[Delivery]] = set()
        self._closed = False

    @classmethod
    def create(cls, config: Mapping[str, Any], *, metrics: Metrics | None = None,
               poll_timeout_s: float = 0.1, loop_poll_s: float | None = None) -> Publisher:
        """A publisher over a new Producer built from `config` (see tds.kafka)."""
        settings = dict(config)
        settings.setdefault("error_cb", _ClientErrorLog())
        try:
            producer = Producer(settings, logger=logging.getLogger("librdkafka"))
        except KafkaException as exc:
            raise PublishError(f"cannot create a Kafka producer: {exc}", topic="",
                               retriable=False) from exc
        return cls(producer=producer, metrics=metrics, poll_timeout_s=poll_timeout_s,
                   loop_poll_s=loop_poll_s)

    @property
    def running(self) -> bool:
        """True between `start()` and `close()`."""
        return self._loop is not None and not self._closed

    @property
    def in_flight(self) -> int:
        """Messages handed to Kafka whose delivery report has not come back yet."""
        return len(self._pending)

    async def start(self) -> None:
        """Bind to the running loop and start the poll thread."""
        if self._loop is not None:
            raise RuntimeError("publisher already started")
        self._loop = asyncio.get_running_loop()
        if self._loop_poll_s is not None:
            self._schedule_pump(_IDLE_POLL_S)
            return
        self._thread = threading.Thread(target=self._poll_forever, name="tds-publisher-poll",
                                        daemon=True)
        self._thread.start()

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def publish_nowait(self, topic: str, value: bytes, *, key: bytes | None = None,
                       headers: Headers | None = None,
                       partition: int = -1) -> asyncio.Future[Delivery]:
        """Enqueue one message; the future resolves when Kafka acknowledges it.

        Raises QueueFullError at once when the local queue is full, PublishError when
        the producer refuses the message (too large, unknown topic), and
        PublisherClosedError when not running.
        """
        loop = self._loop
        if loop is None or self._closed:
            raise PublisherClosedError("the publisher is not running", topic=topic)
        future: asyncio.Future[Delivery] = loop.create_future()

        def on_delivery(err: KafkaError | None, msg: DeliveredMessage) -> None:
            self._reports.append((future, err, msg))  # runs in the thread calling poll()

        try:
            self._producer.produce(topic, value, key, on_delivery=on_delivery,
                                   headers=list(headers) if headers is not None else None,
                                   partition=partition)
        except BufferError:
            raise QueueFullError(
                f"the Kafka producer's local queue is full ({len(self._producer)} messages "
                "waiting): the broker is slow or unreachable", topic=topic) from None
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            raise _publish_error(error, topic) from exc
        self._pending.add(future)
        if self._loop_poll_s is not None and not self._pump_soon:
            self._schedule_pump(self._loop_poll_s)
        return future

    def _schedule_pump(self, delay_s: float) -> None:
        assert self._loop is not None
        if self._pump is not None:
            self._pump.cancel()
        self._pump = self._loop.call_later(delay_s, self._poll_on_loop)
        self._pump_soon = delay_s < _IDLE_POLL_S

    def _poll_on_loop(self) -> None:
        """Loop-driven polling: serve reports, come back soon while any are outstanding
        (and now and then when idle, for librdkafka's logs and error callbacks)."""
        self._pump = None
        try:
            self._producer.poll(0)
        except Exception:
            logger.exception("Kafka producer poll failed")
        self._resolve(self._take_reports())
        if not self._closed:
            assert self._loop_poll_s is not None
            self._schedule_pump(self._loop_poll_s if self._pending else _IDLE_POLL_S)

    async def publish(self, topic: str, value: bytes, *, key: bytes | None = None,
                      headers: Headers | None = None, partition: int = -1) -> Delivery:
        """Publish one message and wait for Kafka's acknowledgement (`partition` -1: the
        partitioner chooses by key)."""
        return await self.publish_nowait(topic, value, key=key, headers=headers,
                                         partition=partition)

    async def close(self, timeout_s: float = 30.0) -> int:
        """Stop accepting, flush for up to `timeout_s`; return how many were not delivered.

        Messages still undelivered at the deadline are purged and their futures fail
        with PublisherClosedError.
        """
        if self._closed:
            return 0
        self._closed = True
        loop = self._loop
        if loop is None:
            return len(self._producer)
        self._stop.set()
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        left = await asyncio.to_thread(self._drain, timeout_s)
        if left:
            logger.warning("closing the Kafka producer with %d undelivered messages", left)
        self._resolve(self._take_reports())
        for future in list(self._pending):
            if not future.done():
                future.set_exception(PublisherClosedError(
                    "the publisher closed before Kafka acknowledged", topic=""))
        self._pending.clear()
        return left

    def _drain(self, timeout_s: float) -> int:
        left = self._producer.flush(timeout_s)
        if left:
            self._producer.purge()
            self._producer.poll(0)  # serve the purge reports
        return left

    def _poll_forever(self) -> None:
        """Poll thread: serve delivery reports and hand each batch to the loop."""
        assert self._loop is not None
        loop = self._loop
        while not self._stop.is_set():
            try:
                self._producer.poll(self._poll_timeout_s)
            except Exception:  # a failing callback must not kill the thread
                logger.exception("Kafka producer poll failed")
                time.sleep(self._poll_timeout_s)
            batch = self._take_reports()
            if batch:
                try:
                    loop.call_soon_threadsafe(self._resolve, batch)
                except RuntimeError:  # loop closed under us: nobody is waiting any more
                    return

    def _take_reports(self) -> list[_Report]:
        batch = self._reports
        if batch:
            self._reports = []
        return batch

    def _resolve(self, batch: list[_Report]) -> None:
        """On the loop: settle the futures of one batch of delivery reports."""
        for future, err, msg in batch:
            self._pending.discard(future)
            if future.done():  # the waiter was cancelled
                continue
            topic = msg.topic() or ""
            if err is None:
                future.set_result(Delivery(topic, msg.partition() or 0, msg.offset() or 0))
                if self._metrics is not None:
                    self._metrics.events_out.labels(topic=topic).inc()
            else:
                future.set_exception(_publish_error(err, topic))


def _publish_error(error: object, topic: str) -> PublishError:
    """Translate a KafkaError (or anything else a produce raised) into ours."""
    if isinstance(error, KafkaError):
        return PublishError(f"Kafka did not take the message for {topic}: {error.str()}",
                            topic=topic, code=error.name(),
                            retriable=error.retriable() or error.code() in _TRANSIENT)
    return PublishError(f"Kafka did not take the message for {topic}: {error}", topic=topic)


# librdkafka marks these non-retriable locally, but a later attempt can succeed.
_TRANSIENT = frozenset({
    KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN, KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT,
    KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC,
    KafkaError.NOT_ENOUGH_REPLICAS, KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    KafkaError.REQUEST_TIMED_OUT, KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
})

class _ClientErrorLog:
    """librdkafka's client-level errors (broker down, ...): log each code at most once a minute."""

    def __init__(self, every_s: float = 60.0) -> None:
        self._every_s = every_s
        self._last: dict[int, float] = {}

    def __call__(self, error: KafkaError) -> None:
        now = time.monotonic()
        if now - self._last.get(error.code(), -self._every_s) < self._every_s:
            return
        self._last[error.code()] = now
        level = logging.ERROR if error.fatal() else logging.WARNING
        logger.log(level, "Kafka producer: %s", error.str())


def is_too_large(error: PublishError) -> bool:
    """True when Kafka refused the message for its size (not worth retrying as is)."""
    return error.code == "MSG_SIZE_TOO_LARGE"


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """What a flush left unacknowledged: messages still queued at its deadline, and the
    errors delivery reports gave (oldest first)."""

    left: int
    errors: tuple[KafkaError, ...]


class DeliveryCheck:
    """Synchronous producing with one delivery check per batch: `produce` queues (and
    counts), `confirm` flushes and says what Kafka did not acknowledge."""

    def __init__(self, producer: ProducerLike, *, room_wait_s: float | None = None) -> None:
        self.producer = producer
        self._room_wait_s = room_wait_s  # set: wait out a full local queue, polling
        self._errors: list[KafkaError] = []
        self.pending = 0  # queued since the last confirm

    def produce(self, topic: str, value: bytes | None, key: bytes | None = None, *,
                headers: Headers | None = None, partition: int = -1) -> None:
        """Queue one message; a full local queue raises BufferError unless `room_wait_s`."""
        while True:
            try:
                self.producer.produce(topic, value=value, key=key,
                                      headers=list(headers) if headers is not None else None,
                                      partition=partition, on_delivery=self._delivered)
                break
            except BufferError:
                if self._room_wait_s is None:
                    raise
                self.producer.poll(self._room_wait_s)  # deliveries drain the queue
        self.pending += 1

    def _delivered(self, error: KafkaError | None, _message: DeliveredMessage) -> None:
        if error is not None:
            self._errors.append(error)

    def confirm(self, timeout_s: float) -> Unconfirmed | None:
        """Flush for up to `timeout_s`; None when every message since the last confirm
        was acknowledged."""
        left = self.producer.flush(timeout_s)
        errors, self._errors = self._errors, []
        self.pending = 0
        return Unconfirmed(left, tuple(errors)) if left or errors else None
