"""The Zoho Books v3 / Inventory v1 client: OAuth shared through PostgreSQL, a rate
limiter that spends Zoho's budgets without tripping them, retries, and page iterators.

    async with open_client(settings, metrics=metrics, pool=pool) as zoho:
        item = await zoho.get_record("item", "4815000000044208")
        async for page in zoho.iter_pages("invoice", modified_since=cursor):
            ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from producers.zoho.client import ClientOptions, ZohoClient
from producers.zoho.entities import ENTITY_DEFS, ENTITY_TYPES, EntityDef, entity_def
from producers.zoho.errors import ZohoError
from producers.zoho.paging import Page
from tds.metrics import Metrics
from tds.settings import Settings


@asynccontextmanager
async def open_client(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    pool: asyncpg.Pool | None = None,
    options: ClientOptions | None = None,
) -> AsyncIterator[ZohoClient]:
    """A ready client; the access token is shared through `pool` (or DATABASE_URL)."""
    async with ZohoClient(settings, metrics=metrics, pool=pool, options=options) as client:
        yield client


__all__ = [
    "ENTITY_DEFS",
    "ENTITY_TYPES",
    "ClientOptions",
    "EntityDef",
    "Page",
    "ZohoClient",
    "ZohoError",
    "entity_def",
    "open_client",
]
