"""The asyncio bridge over a Producer: futures resolve from delivery reports, a full queue
fails at once, errors are translated, close flushes and fails what is left."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError

from tds.kafka_publisher import (
    Delivery,
    Publisher,
    PublisherClosedError,
    PublishError,
    QueueFullError,
    is_too_large,
)
from tds.metrics import Metrics
from tests.support.waits import until
from tests.unit.webhook.stubs import StubProducer


@pytest.fixture(params=["thread", "loop"])
def make(request: pytest.FixtureRequest) -> Callable[..., Publisher]:
    """Publishers over a stub, polled by a thread or from the event loop."""

    def build(producer: StubProducer, metrics: Metrics | None = None) -> Publisher:
        loop_poll_s = 0.005 if request.param == "loop" else None
        return Publisher(producer=producer, metrics=metrics, poll_timeout_s=0.01,
                         loop_poll_s=loop_poll_s)

    return build


async def test_futures_resolve_when_kafka_acknowledges(make: Callable[..., Publisher]) -> None:
    producer, metrics = StubProducer(), Metrics.create()
    async with make(producer, metrics) as publisher:
        futures = [publisher.publish_nowait("t", b"v%d" % i, key=b"k", headers=[("h", b"1")])
                   for i in range(3)]
        # polled twice more, with nothing acknowledged yet: no future may resolve
        polled = producer.polls
        await until(lambda: producer.polls >= polled + 2, 5, what="the publisher polled")
        assert not any(f.done() for f in futures) and publisher.in_flight == 3
        producer.release()
        deliveries = await asyncio.wait_for(asyncio.gather(*futures), 2)
    assert deliveries == [Delivery("t", 0, 0), Delivery("t", 0, 1), Delivery("t", 0, 2)]
    assert [q.value for q in producer.delivered] == [b"v0", b"v1", b"v2"]
    assert producer.delivered[0].headers == [("h", b"1")] and producer.delivered[0].key == b"k"
    assert metrics.registry.get_sample_value("tds_events_produced_total", {"topic": "t"}) == 3


async def test_a_full_queue_fails_at_once(make: Callable[..., Publisher]) -> None:
    producer = StubProducer(capacity=1)
    async with make(producer) as publisher:
        first = publisher.publish_nowait("t", b"1")
        # Nothing frees the queue until release(): a publish that waited for room would hit
        # the bound (TimeoutError), not raise QueueFullError.
        with pytest.raises(QueueFullError, match="local queue is full") as info:
            await asyncio.wait_for(publisher.publish("t", b"2"), 5)
        assert not first.done() and len(producer.queue) == 1
        assert info.value.retriable and info.value.topic == "t"
        producer.release()
        await asyncio.wait_for(first, 2)


async def test_delivery_errors_are_translated(make: Callable[..., Publisher]) -> None:
    producer = StubProducer()
    producer.fail_with = KafkaError(KafkaError._MSG_TIMED_OUT)
    async with make(producer) as publisher:
        future = publisher.publish_nowait("t", b"1")
        producer.release()
        with pytest.raises(PublishError, match="timed out") as info:
            await asyncio.wait_for(future, 2)
    assert info.value.retriable and info.value.code == "_MSG_TIMED_OUT"
    too_large = PublishError("x", topic="t", code=KafkaError(KafkaError.MSG_SIZE_TOO_LARGE).name(),
                             retriable=False)
    assert is_too_large(too_large)


async def test_a_cancelled_waiter_does_not_break_the_others(make: Callable[..., Publisher]) -> None:
    producer = StubProducer()
    async with make(producer) as publisher:
        cancelled = publisher.publish_nowait("t", b"1")
        kept = publisher.publish_nowait("t", b"2")
        cancelled.cancel()
        producer.release()
        assert await asyncio.wait_for(kept, 2) == Delivery("t", 0, 1)


async def test_close_flushes_what_is_queued(make: Callable[..., Publisher]) -> None:
    producer = StubProducer()
    publisher = make(producer)
    await publisher.start()
    future = publisher.publish_nowait("t", b"1")
    assert await publisher.close(timeout_s=1) == 0
    assert future.done() and future.result() == Delivery("t", 0, 0)
    with pytest.raises(PublisherClosedError):
        publisher.publish_nowait("t", b"2")
    assert await publisher.close() == 0  # idempotent


async def test_close_fails_what_the_broker_never_took(make: Callable[..., Publisher]) -> None:
    producer = StubProducer()
    producer.stuck = True
    publisher = make(producer)
    await publisher.start()
    future = publisher.publish_nowait("t", b"1")
    assert await publisher.close(timeout_s=0.1) == 1
    assert producer.purged == 1
    with pytest.raises(PublishError):
        future.result()


async def test_publish_before_start_is_refused(make: Callable[..., Publisher]) -> None:
    with pytest.raises(PublisherClosedError, match="not running"):
        make(StubProducer()).publish_nowait("t", b"1")
