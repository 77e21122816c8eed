"""What the writer needs from Zoho and Kafka, and the two ways a Zoho call can fail.

`tds writer` plugs in the shared Zoho client (`producers.zoho`, through an adapter that
translates its errors into these) and the asyncio publisher; tests plug in stubs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from consumers.errors import ConsumerError


class ZohoRefused(ConsumerError):
    """Zoho answered the call with a 4xx: the request is wrong, sending it again cannot help."""

    retriable = False

    def __init__(self, message: str, *, status: int | None, code: int | None) -> None:
        super().__init__(message)
        self.message, self.status, self.code = message, status, code

    @property
    def not_found(self) -> bool:
        """Zoho has no such record (404, or code 1002)."""
        return self.status == 404 or self.code == 1002


class ZohoUnavailable(ConsumerError):
    """429 after the budget's waits, a 5xx, a timeout or a lost connection: try later
    (a 5xx or a lost connection may have applied a write: the outcome is unknown)."""

    retriable = True


class ZohoPort(Protocol):
    """One Zoho call through the shared client (budget, token, retries of safe calls)."""

    @property
    def organization_id(self) -> str:
        """The Zoho organization the calls go to."""
        ...

    async def call(self, method: str, product: str, path: str, *,
                   body: Mapping[str, Any] | None = None,
                   params: Mapping[str, str] | None = None,
                   endpoint: str) -> dict[str, Any]:
        """Zoho's JSON envelope of a success; ZohoRefused or ZohoUnavailable otherwise."""
        ...


class Publishing(Protocol):
    """Publish one message and wait for Kafka's acknowledgement (tds.kafka_publisher)."""

    async def publish(self, topic: str, value: bytes, *, key: bytes | None = None,
                      headers: Sequence[tuple[str, str | bytes]] | None = None) -> Any: ...
