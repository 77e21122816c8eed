"""The pollers' sink over the kernel's publisher: a page goes whole or fails as a
PublishError of the pollers."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from producers.pollers.errors import PublishError
from producers.pollers.messages import Message
from producers.pollers.publisher import KafkaPublisher
from tds.kafka_publisher import Publisher
from tests.unit.webhook.stubs import StubProducer


def _page(count: int) -> list[Message]:
    return [Message(b"k%d" % i, b"v%d" % i, [("ce_type", b"t")]) for i in range(count)]


async def test_a_page_is_sent_whole_waiting_for_room_in_the_queue() -> None:
    producer = StubProducer(capacity=2)
    producer.auto_ack = True
    async with KafkaPublisher(Publisher(producer=producer, poll_timeout_s=0.01)) as sink:
        assert await sink.send_all("raw", _page(5)) == 5
    assert [m.value for m in producer.delivered] == [b"v%d" % i for i in range(5)]
    assert producer.delivered[0].headers == [("ce_type", b"t")]


async def test_a_refused_message_fails_the_page_as_the_pollers_error() -> None:
    producer = StubProducer()
    producer.auto_ack = True
    producer.fail_with = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
    async with KafkaPublisher(Publisher(producer=producer, poll_timeout_s=0.01)) as sink:
        with pytest.raises(PublishError):
            await sink.send_all("raw", _page(2))


async def test_sending_before_start_fails_as_the_pollers_error() -> None:
    sink = KafkaPublisher(Publisher(producer=StubProducer()))
    with pytest.raises(PublishError):
        await sink.send_all("raw", _page(1))
