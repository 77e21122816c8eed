"""Fixtures: the simulator, a migrated schema, unique topics, a Kafka-backed poller."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from confluent_kafka import Consumer

from producers.pollers.config import PollerConfig, PollTopics
from producers.pollers.publisher import KafkaPublisher
from producers.pollers.runner import Poller
from producers.pollers.state import PgPollState
from producers.zoho.client import ClientOptions, ZohoClient
from producers.zoho.tokens import PgTokenStore
from schemas.events import AnyEvent, decode_event
from tds.kafka import client_config, producer_config
from tests.integration.zoho.simkit import Sim, SimClock, running_sim, schema_pool


@pytest.fixture
async def pool(database_url: str, pg_schema: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a freshly migrated schema."""
    async with schema_pool(database_url, pg_schema) as p:
        yield p


@pytest.fixture
def topics(topic_factory: Callable[..., str]) -> PollTopics:
    """Unique raw, runs and commands topics."""
    return PollTopics(raw=topic_factory("raw"), runs=topic_factory("runs"),
                      commands=topic_factory("cmd", partitions=1))


@dataclass
class Received:
    """Webhook bodies a receiver got."""

    bodies: list[bytes]
    url: str


@pytest.fixture
async def receiver() -> AsyncIterator[Received]:
    """A webhook endpoint on loopback that records bodies."""
    got = Received([], "")

    async def hook(request: web.Request) -> web.Response:
        got.bodies.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    got.url = str(server.make_url("/hook"))
    yield got
    await server.close()


@dataclass
class Rig:
    """A poller wired to the simulator, real Kafka and PostgreSQL."""

    sim: Sim
    poller: Poller
    zoho: ZohoClient
    publisher: KafkaPublisher
    state: PgPollState
    topics: PollTopics
    bootstrap: str


@pytest.fixture
def rig_factory(pool: asyncpg.Pool, topics: PollTopics, kafka_bootstrap: str
                ) -> Callable[..., Any]:
    """Build a Rig on a running simulator (used as an async context manager)."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def make(sim: Sim, **config: Any) -> AsyncIterator[Rig]:
        zoho = ZohoClient(sim.settings(), token_store=PgTokenStore.from_pool(pool),
                          options=ClientOptions(), clock=SimClock(sim.state))
        publisher = KafkaPublisher(producer_config(kafka_bootstrap))
        state = PgPollState(pool)
        values: dict[str, Any] = {"org_id": sim.creds["organization_id"], "per_page": 50,
                                  "heartbeat_s": 1.0}
        values.update(config)
        poller = Poller(config=PollerConfig(**values), topics=topics, zoho=zoho,
                        sink=publisher, state=state)
        async with zoho, publisher:
            yield Rig(sim, poller, zoho, publisher, state, topics, kafka_bootstrap)

    return make


def consume(bootstrap: str, topic: str, *, idle_s: float = 1.5,
            timeout_s: float = 30.0) -> list[tuple[bytes, AnyEvent, list[tuple[str, bytes]]]]:
    """Every message of `topic` (read until nothing new for `idle_s`), decoded."""
    consumer = Consumer(client_config(bootstrap, **{"group.id": f"t-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    consumer.subscribe([topic])
    out: list[tuple[bytes, AnyEvent, list[tuple[str, bytes]]]] = []
    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    try:
        while time.monotonic() < deadline and (not out or time.monotonic() - last < idle_s):
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                if not out and time.monotonic() - last > 8.0:
                    break  # nothing at all after a generous wait
                continue
            last = time.monotonic()
            value = msg.value()
            assert value is not None
            out.append((msg.key() or b"", decode_event(value),
                        [(k, v if isinstance(v, bytes) else v.encode())
                         for k, v in (msg.headers() or [])]))
    finally:
        consumer.close()
    return out


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    """A small simulator (manual clock)."""
    async with running_sim() as running:
        yield running
