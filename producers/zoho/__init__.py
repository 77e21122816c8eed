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

from producers.zoho.budget import Priority
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
    priority: Priority = Priority.REALTIME,
) -> AsyncIterator[ZohoClient]:
    """A ready client; the access token and the request budget are shared through `pool`
    (or DATABASE_URL). `priority` is the budget class of its calls (by default the top
    one: completing webhook pings, writing back)."""
    async with ZohoClient(settings, metrics=metrics, pool=pool, options=options,
                          priority=priority) as client:
        yield client


__all__ = [
    "ENTITY_DEFS",
    "ENTITY_TYPES",
    "ClientOptions",
    "EntityDef",
    "Page",
    "Priority",
    "ZohoClient",
    "ZohoError",
    "entity_def",
    "open_client",
]
