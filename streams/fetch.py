"""The port through which a ping (an id-only event) is completed from Zoho."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, Protocol

from streams.errors import FetchFailed


class RecordFetcher(Protocol):
    """Reads one record from the Zoho API (`producers.zoho`'s client satisfies it).

    Returns None only when Zoho says the record does not exist (code 1002 / 404): the
    worker then emits a delete, since Zoho is the source of truth and its ids are never
    reused. Any other failure must raise; the worker retries it through the retry chain.
    """

    async def get_record(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        """The record as `GET /{entity}/{id}` returns it (the object under its key)."""
        ...


class NoFetcher:
    """A fetcher for workers without Zoho credentials: every ping is retried, then
    dead-lettered, with a message saying what is missing."""

    async def get_record(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        """Always fail (retriably: credentials may be configured before the retry)."""
        raise FetchFailed(f"cannot fetch {entity_type} {entity_id}: this worker has no Zoho "
                          "client (set ZOHO_CLIENT_ID, ZOHO_REFRESH_TOKEN, ...)")


class LazyFetcher:
    """Opens the real client on first use, inside the worker's event loop, and closes
    it when the worker stops (the worker owns the loop, so nothing can open it earlier)."""

    def __init__(self, open_client: Callable[[], AbstractAsyncContextManager[RecordFetcher]]
                 ) -> None:
        self._open = open_client
        self._client: RecordFetcher | None = None
        self._stack: AsyncExitStack | None = None
        self._lock: asyncio.Lock | None = None

    async def get_record(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        """Fetch through the client, opening it first when needed."""
        if self._client is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self._client is None:
                    stack = AsyncExitStack()
                    self._client = await stack.enter_async_context(self._open())
                    self._stack = stack
        return await self._client.get_record(entity_type, entity_id)

    async def aclose(self) -> None:
        """Close the client if it was opened."""
        if self._stack is not None:
            stack, self._stack, self._client = self._stack, None, None
            await stack.aclose()
