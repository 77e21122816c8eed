"""Fixtures: an in-process simulator, a migrated schema with a pool, client builders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from producers.zoho.client import ClientOptions, ZohoClient
from producers.zoho.tokens import PgTokenStore
from tds.metrics import Metrics
from tests.integration.zoho.simkit import Sim, SimClock, running_sim, schema_pool

ClientFactory = Callable[..., ZohoClient]


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    """A small simulator with a manual clock."""
    async with running_sim() as running:
        yield running


@pytest.fixture
async def pool(database_url: str, pg_schema: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a freshly migrated schema (holds zoho_tokens)."""
    async with schema_pool(database_url, pg_schema) as p:
        yield p


@pytest.fixture
async def make_client(sim: Sim, pool: asyncpg.Pool) -> AsyncIterator[ClientFactory]:
    """Build clients on the simulator that share the token through PostgreSQL."""
    made: list[ZohoClient] = []

    def make(*, clock: SimClock | None = None, settings_env: dict[str, str] | None = None,
             metrics: Metrics | None = None, **options: Any) -> ZohoClient:
        client = ZohoClient(sim.settings(**(settings_env or {})),
                            token_store=PgTokenStore.from_pool(pool), metrics=metrics,
                            options=ClientOptions(**options), clock=clock or SimClock(sim.state))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
