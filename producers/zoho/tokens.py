"""OAuth access tokens: refreshed ahead of expiry, cached in-process and shared by every
TDS process through the `zoho_tokens` table, so a fleet never trips Zoho's limit of ten
token requests per ten minutes per refresh token.

Exactly one process refreshes at a time: the refresher holds a transaction-scoped
advisory lock keyed by the refresh token's hash; the others wait on the lock, then find
the fresh token in the row and use it without calling Zoho.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg
import orjson

from producers.zoho.dc import Endpoints
from producers.zoho.errors import (
    ZohoBadResponse,
    ZohoConfigError,
    ZohoServerError,
    ZohoTokenError,
    ZohoTokenThrottled,
)
from tds import postgres
from tds.metrics import Metrics
from tds.secret import Secret

logger = logging.getLogger(__name__)

# (url, form fields) -> (HTTP status, body bytes); the client supplies it over its session.
PostForm = Callable[[str, dict[str, str]], Awaitable[tuple[int, bytes]]]


@dataclass(frozen=True, slots=True)
class StoredToken:
    """One row of `zoho_tokens`: the shared access token and any throttle block."""

    access_token: str = field(repr=False)
    api_domain: str
    expires_at: datetime
    blocked_until: datetime | None = None

    def usable(self, now: datetime, margin_s: float = 0.0) -> bool:
        """True when the token exists and lives at least `margin_s` more seconds."""
        return bool(self.access_token) and self.expires_at - timedelta(seconds=margin_s) > now


class TokenSession(Protocol):
    """The row of one refresh token, read and written under the cross-process lock."""

    async def read(self) -> StoredToken | None:
        """The current row, or None."""
        ...

    async def write(self, token: StoredToken) -> None:
        """Replace the row."""
        ...


class TokenStore(Protocol):
    """Where access tokens are shared; `locked(key)` admits one refresher at a time."""

    def locked(self, key: str) -> AbstractAsyncContextManager[TokenSession]:
        """Hold the lock of `key` for the block."""
        ...


class MemoryTokenStore:
    """A process-local store, for a process without PostgreSQL (and for tests)."""

    def __init__(self) -> None:
        self.rows: dict[str, StoredToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def locked(self, key: str) -> AsyncIterator[TokenSession]:
        """Hold an asyncio lock for `key`."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            yield _MemorySession(self.rows, key)


@dataclass(slots=True)
class _MemorySession:
    rows: dict[str, StoredToken]
    key: str

    async def read(self) -> StoredToken | None:
        return self.rows.get(self.key)

    async def write(self, token: StoredToken) -> None:
        self.rows[self.key] = token


# Connect to PostgreSQL for one token operation: a pool's acquire() or a fresh connection.
Connector = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]


class PgTokenStore:
    """The `zoho_tokens` table, locked with `pg_advisory_xact_lock` while refreshing."""

    def __init__(self, connect: Connector, *, lock_timeout_s: float = 60.0) -> None:
        self._connect = connect
        self._lock_timeout_ms = int(lock_timeout_s * 1000)

    @classmethod
    def from_pool(cls, pool: asyncpg.Pool) -> PgTokenStore:
        """A store borrowing connections from `pool`."""
        return cls(pool.acquire)

    @classmethod
    def from_dsn(cls, dsn: str) -> PgTokenStore:
        """A store opening one short connection per token operation (refreshes are rare)."""

        @asynccontextmanager
        async def connect() -> AsyncIterator[asyncpg.Connection]:
            conn = await postgres.connect(dsn)
            try:
                yield conn
            finally:
                await conn.close()

        return cls(connect)

    @asynccontextmanager
    async def locked(self, key: str) -> AsyncIterator[TokenSession]:
        """A transaction holding the advisory lock of `key` until it ends."""
        lock_id = int(key[:15], 16)  # 60 bits of the hash: fits a bigint
        try:
            async with self._connect() as conn, conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = {self._lock_timeout_ms}")
                await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_id)
                yield _PgSession(conn, key)
        except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError) as exc:
            raise ZohoConfigError(f"the zoho_tokens table is missing or old ({exc}): run "
                                  "`tds migrate`") from exc
        except (OSError, asyncpg.PostgresError) as exc:
            raise ZohoServerError(f"shared token store unavailable: {exc}") from exc


@dataclass(slots=True)
class _PgSession:
    conn: asyncpg.Connection
    key: str

    async def read(self) -> StoredToken | None:
        row = await self.conn.fetchrow(
            "SELECT access_token, api_domain, expires_at, blocked_until FROM zoho_tokens"
            " WHERE refresh_token_sha256 = $1",
            self.key,
        )
        if row is None:
            return None
        return StoredToken(row["access_token"], row["api_domain"], row["expires_at"],
                           row["blocked_until"])

    async def write(self, token: StoredToken) -> None:
        await self.conn.execute(
            """INSERT INTO zoho_tokens
                   (refresh_token_sha256, access_token, api_domain, expires_at, blocked_until,
                    refreshed_at)
               VALUES ($1, $2, $3, $4, $5, now())
               ON CONFLICT (refresh_token_sha256) DO UPDATE SET
                   access_token = EXCLUDED.access_token, api_domain = EXCLUDED.api_domain,
                   expires_at = EXCLUDED.expires_at, blocked_until = EXCLUDED.blocked_until,
                   refreshed_at = now()""",
            self.key, token.access_token, token.api_domain, token.expires_at,
            token.blocked_until,
        )


def _now() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)


class TokenProvider:
    """Hands out a live access token, refreshing it (once, fleet-wide) ahead of expiry."""

    def __init__(
        self,
        *,
        client_id: str | None,
        client_secret: Secret,
        refresh_token: Secret,
        endpoints: Endpoints,
        store: TokenStore,
        metrics: Metrics | None = None,
        margin_s: float = 300.0,
        throttle_block_s: float = 600.0,
        throttle_probe_s: float = 60.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        if not (client_id and client_secret and refresh_token):
            raise ZohoConfigError(
                "Zoho credentials missing: set ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and "
                "ZOHO_REFRESH_TOKEN (`tds sim` prints simulator credentials)")
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._endpoints = endpoints
        self._store = store
        self._metrics = metrics
        self._margin_s = margin_s
        # A throttle's length is not published (integrators report 10-30 min), so the
        # fleet probes once after `throttle_probe_s`, doubling on each refusal up to
        # `throttle_block_s`: a short throttle costs a minute, not the whole assumed block.
        self._throttle_block_s = throttle_block_s
        self._throttle_probe_s = min(throttle_probe_s, throttle_block_s)
        self._next_block_s = self._throttle_probe_s
        self._clock = clock
        # A refresh token only means something to the accounts server that issued it, so
        # the shared row is keyed by both (two simulators can hand out the same token).
        self._key = hashlib.sha256(
            f"{endpoints.accounts_url}\n{refresh_token.reveal()}".encode()).hexdigest()
        self._cached: StoredToken | None = None
        self._lock = asyncio.Lock()

    @property
    def key(self) -> str:
        """sha256 of accounts URL and refresh token: the `zoho_tokens` row of this provider."""
        return self._key

    async def get(self, post: PostForm, *, reject: str | None = None) -> StoredToken:
        """A usable token; `reject` names a token the API just refused (forces a refresh)."""
        cached = self._cached
        if cached is not None and self._good(cached, reject):
            return cached
        async with self._lock:  # one coroutine per process goes to the shared store
            cached = self._cached
            if cached is not None and self._good(cached, reject):
                return cached
            async with self._store.locked(self._key) as row:
                outcome = await self._refresh_locked(row, post, reject)
            if isinstance(outcome, ZohoTokenThrottled):
                raise outcome  # raised after the block is committed for every process
            self._cached = outcome
            return outcome

    def _good(self, token: StoredToken, reject: str | None) -> bool:
        return token.access_token != reject and token.usable(self._clock(), self._margin_s)

    async def _refresh_locked(
        self, row: TokenSession, post: PostForm, reject: str | None
    ) -> StoredToken | ZohoTokenThrottled:
        now = self._clock()
        current = await row.read()
        if current is not None and self._good(current, reject):
            return current  # another process refreshed while we waited for the lock
        if current is not None and current.blocked_until and current.blocked_until > now:
            return self._blocked(current, reject, current.blocked_until)
        try:
            fresh = await self._request(post)
        except ZohoTokenThrottled:
            until = now + timedelta(seconds=self._next_block_s)
            self._next_block_s = min(self._next_block_s * 2, self._throttle_block_s)
            base = current or StoredToken("", self._endpoints.api_domain, now)
            await row.write(replace(base, blocked_until=until))
            return self._blocked(base, reject, until)
        self._next_block_s = self._throttle_probe_s
        await row.write(fresh)
        return fresh

    def _blocked(self, current: StoredToken, reject: str | None,
                 until: datetime) -> StoredToken | ZohoTokenThrottled:
        # A token still alive inside the refresh margin beats no token at all.
        if current.access_token != reject and current.usable(self._clock()):
            return current
        wait = max(0.0, (until - self._clock()).total_seconds())
        return ZohoTokenThrottled(
            f"Zoho token requests are blocked (too many requests); retry in {wait:.0f} s",
            status=400, endpoint="oauth", retry_after_s=wait)

    async def _request(self, post: PostForm) -> StoredToken:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id or "",
            "client_secret": self._client_secret.reveal(),
            "refresh_token": self._refresh_token.reveal(),
        }
        started = self._clock()
        status, raw = await post(self._endpoints.token_url, form)
        try:
            body: dict[str, Any] = orjson.loads(raw)
            if not isinstance(body, dict):
                raise TypeError("not an object")
        except (orjson.JSONDecodeError, TypeError):
            self._count("error")
            if status >= 500:
                raise ZohoServerError(f"token endpoint answered HTTP {status}",
                                      status=status, endpoint="oauth") from None
            raise ZohoBadResponse(f"token endpoint answered HTTP {status} without JSON",
                                  status=status, endpoint="oauth") from None
        error = body.get("error")
        if status == 400 and (error == "Access Denied" or "too many" in
                              str(body.get("error_description", "")).lower()):
            self._count("throttled")
            logger.warning("Zoho token endpoint throttled this refresh token")
            raise ZohoTokenThrottled("Zoho token requests are blocked (too many requests)",
                                     status=status, endpoint="oauth",
                                     retry_after_s=self._throttle_block_s)
        if status >= 500:
            self._count("error")
            raise ZohoServerError(f"token endpoint answered HTTP {status}", status=status,
                                  endpoint="oauth")
        if error or status != 200 or not body.get("access_token"):
            self._count("error")
            raise ZohoTokenError(
                f"Zoho refused the token refresh: {error or status} (check ZOHO_CLIENT_ID, "
                "ZOHO_CLIENT_SECRET, ZOHO_REFRESH_TOKEN and ZOHO_DC)",
                status=status, endpoint="oauth")
        self._count("ok")
        expires_in = float(body.get("expires_in") or 3600)
        api_domain = str(body.get("api_domain") or self._endpoints.api_domain)
        if self._endpoints.overridden:
            api_domain = self._endpoints.api_domain  # ZOHO_API_BASE wins: never leave it
        logger.info("refreshed the Zoho access token (valid %.0f s)", expires_in)
        return StoredToken(str(body["access_token"]), api_domain.rstrip("/"),
                           started + timedelta(seconds=expires_in))

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.zoho_token_refreshes.labels(outcome=outcome).inc()


__all__ = [
    "MemoryTokenStore",
    "PgTokenStore",
    "PostForm",
    "StoredToken",
    "TokenProvider",
    "TokenSession",
    "TokenStore",
]
