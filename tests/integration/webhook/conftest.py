"""A gateway on a real broker, and helpers that read a topic back."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from confluent_kafka import Consumer, Message, TopicPartition

from producers.webhook.app import add_routes
from tds.commands.web import webhook_producer_config
from tds.kafka import consumer_config
from tds.kafka_publisher import Publisher
from tds.metrics import Metrics
from tds.settings import Settings

SECRET = "integrationSecret42"
ORG = "20077551234"


@dataclass
class Gateway:
    """A running gateway: its HTTP client, publisher, metrics and topic."""

    client: TestClient[web.Request, web.Application]
    publisher: Publisher
    metrics: Metrics
    topic: str

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))


GatewayFactory = Callable[..., AbstractAsyncContextManager[Gateway]]


@pytest.fixture
def gateway_factory(kafka_bootstrap: str) -> GatewayFactory:
    """Start a gateway publishing to `topic` on the real broker (or `bootstrap`)."""

    @asynccontextmanager
    async def make(topic: str, *, bootstrap: str | None = None,
                   producer: dict[str, Any] | None = None,
                   **env: str) -> AsyncIterator[Gateway]:
        values = {"ZOHO_WEBHOOK_SECRET": SECRET, "ZOHO_ORGANIZATION_ID": ORG,
                  "KAFKA_BOOTSTRAP_SERVERS": bootstrap or kafka_bootstrap, **env}
        settings = Settings.from_env({k: v for k, v in values.items() if v is not None})
        metrics = Metrics.create()
        config = webhook_producer_config(settings, ack_timeout_s=10)
        config.update(producer or {})
        publisher = Publisher.create(config, metrics=metrics, poll_timeout_s=0.05)
        app = web.Application()
        add_routes(app, settings=settings, publisher=publisher, metrics=metrics, topic=topic)
        await publisher.start()
        try:
            async with TestClient(TestServer(app)) as client:
                yield Gateway(client, publisher, metrics, topic)
        finally:
            await publisher.close(timeout_s=5)

    return make


def closed_port() -> str:
    """host:port on loopback where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


def read_topic(bootstrap: str, topic: str, count: int, timeout_s: float = 20) -> list[Message]:
    """Read `count` messages from the start of every partition (fewer on timeout)."""
    consumer = Consumer(consumer_config(bootstrap, f"test-webhook-{uuid.uuid4().hex[:8]}"))
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = metadata.topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        got: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while len(got) < count and time.monotonic() < deadline:
            for message in consumer.consume(count - len(got), timeout=0.5):
                assert message.error() is None, message.error()
                got.append(message)
        return got
    finally:
        consumer.close()


async def consume(bootstrap: str, topic: str, count: int, timeout_s: float = 20) -> list[Message]:
    """Read `count` messages from the start of every partition (fewer on timeout)."""
    return await asyncio.to_thread(read_topic, bootstrap, topic, count, timeout_s)


def _total(bootstrap: str, topic: str) -> int:
    consumer = Consumer(consumer_config(bootstrap, f"test-webhook-{uuid.uuid4().hex[:8]}"))
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        total = 0
        for partition in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                       timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


async def message_count(bootstrap: str, topic: str) -> int:
    """How many messages `topic` holds (high minus low watermark, all partitions)."""
    return await asyncio.to_thread(_total, bootstrap, topic)
