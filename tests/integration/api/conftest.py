"""An API app wired to the real PostgreSQL (a fresh migrated schema) and Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import add_routes
from api.context import ApiContext, TtlCache
from api.errors import error_middleware
from api.history import History
from api.kafka_state import KafkaInspector
from tds.commands.migrate import MIGRATIONS
from tds.kafka import producer_config
from tds.kafka_publisher import Publisher
from tds.metrics import Metrics, exposition
from tds.migrate import apply
from tds.settings import Settings

TOKEN = "test-api-token-123"


@dataclass
class ApiHarness:
    """The client plus what a test needs to arrange data and check effects."""

    client: TestClient[web.Request, web.Application]
    pool: asyncpg.Pool
    ctx: ApiContext


@pytest.fixture
async def api(database_url: str, kafka_bootstrap: str, pg_schema: str,
              topic_factory: Callable[..., str]) -> AsyncIterator[ApiHarness]:
    await apply(database_url, MIGRATIONS, schema=pg_schema)
    settings = Settings.from_env({"TDS_API_TOKEN": TOKEN, "TDS_ENABLE_CACHE": "false",
                                  "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                                  "DATABASE_URL": database_url})
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4,
                                     server_settings={"search_path": pg_schema})
    assert pool is not None
    metrics = Metrics.create()
    publisher = Publisher.create(producer_config(kafka_bootstrap), metrics=metrics)
    await publisher.start()
    commands = topic_factory("commands", partitions=1)
    outbound = topic_factory("outbound", partitions=1)
    ctx = ApiContext(
        settings=settings, pool=pool, inspector=KafkaInspector(bootstrap=kafka_bootstrap),
        sink=publisher, metrics=metrics,
        history=History(read=lambda: exposition(metrics.registry)),
        groups={"tds-streams": [], "tds-projector": []}, org_id="42",
        cache=TtlCache(ttl_s=1.0, enabled=False), commands_topic=commands,
        outbound_topic=outbound)
    app = web.Application(middlewares=[error_middleware])
    add_routes(app, ctx)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield ApiHarness(client=client, pool=pool, ctx=ctx)
    finally:
        await client.close()
        await publisher.close()
        await pool.close()
        ctx.inspector.close()
