"""Kafka unreachable: 503 (at once when the local queue is full), and what Zoho re-sends
once the broker is back all lands."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson

from producers.webhook.app import WEBHOOK_PATH
from producers.webhook.auth import SIGNATURE_HEADER
from schemas.events import RawEvent, decode_event
from simulator.signing import sign
from tests.integration.webhook.conftest import (
    SECRET,
    Gateway,
    GatewayFactory,
    closed_port,
    consume,
    message_count,
)
from tests.support.waits import until

_JSON = {"Content-Type": "application/json"}


def _webhook(n: int) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps({"item": {"item_id": str(1000 + n), "rate": n}})
    return body, {**_JSON, SIGNATURE_HEADER: sign(SECRET, [], [], body)}


async def _post(gateway: Gateway, n: int) -> tuple[int, dict[str, str]]:
    body, headers = _webhook(n)
    async with gateway.client.post(WEBHOOK_PATH, data=body, headers=headers) as resp:
        answer = await resp.json()
        return resp.status, {**answer, **resp.headers}


async def test_unreachable_kafka_gives_503_then_resends_land(
    gateway_factory: GatewayFactory, topic_factory: Callable[..., str], kafka_bootstrap: str
) -> None:
    topic = topic_factory("webhook-down", partitions=3)
    count = 5
    async with gateway_factory(topic, bootstrap=closed_port(),
                               producer={"message.timeout.ms": 1500}) as down:
        answers = await asyncio.gather(*(_post(down, n) for n in range(count)))
    for status, answer in answers:
        assert status == 503, answer
        assert "Kafka did not acknowledge the event" in answer["detail"]
        assert answer["Retry-After"] == "5"
    assert await message_count(kafka_bootstrap, topic) == 0

    async with gateway_factory(topic) as back:  # Zoho retries once the broker is back
        answers = await asyncio.gather(*(_post(back, n) for n in range(count)))
    assert [status for status, _ in answers] == [200] * count
    messages = await consume(kafka_bootstrap, topic, count)
    bodies = set()
    for message in messages:
        value = message.value()
        assert value is not None
        event = decode_event(value)
        assert isinstance(event, RawEvent)
        bodies.add(event.body)
    assert bodies == {_webhook(n)[0] for n in range(count)}
    assert await message_count(kafka_bootstrap, topic) == count


async def test_a_full_local_queue_answers_503_at_once(
    gateway_factory: GatewayFactory, topic_factory: Callable[..., str], kafka_bootstrap: str
) -> None:
    topic = topic_factory("webhook-full", partitions=1)
    async with gateway_factory(topic, bootstrap=closed_port(),
                               producer={"message.timeout.ms": 2000,
                                         "queue.buffering.max.messages": 1}) as down:
        first = asyncio.create_task(_post(down, 1))
        # the first fills the queue of one
        await until(lambda: down.publisher.in_flight == 1, 10, what="first webhook queued")
        status, answer = await _post(down, 2)
        assert status == 503 and "Kafka cannot take the event now" in answer["detail"]
        # At once: answered while the first still holds the queue, not after it gave up.
        assert not first.done() and down.publisher.in_flight == 1
        status, answer = await first
        assert status == 503 and "Kafka did not acknowledge the event" in answer["detail"]
    assert await message_count(kafka_bootstrap, topic) == 0
