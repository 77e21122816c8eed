"""The Zoho Books/Inventory API client: authenticated, budgeted, retried calls.

One `ZohoClient` per process is enough: its rate limiter and token cache are shared by
every coroutine using it. Paging lives in `producers.zoho.paging`.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timezone
from typing import Any, Self
from urllib.parse import quote, urlencode

import aiohttp
import asyncpg
from multidict import CIMultiDict

from producers.zoho import dc
from producers.zoho.budget import Ledger, Priority
from producers.zoho.entities import EntityDef, entity_def
from producers.zoho.errors import (
    ZohoAuthError,
    ZohoBadRequest,
    ZohoBadResponse,
    ZohoConcurrencyLimited,
    ZohoConfigError,
    ZohoDailyLimitExceeded,
    ZohoError,
    ZohoNotFound,
    ZohoRateLimited,
    ZohoTimeout,
    ZohoTokenThrottled,
)
from producers.zoho.paging import Page, iter_pages, list_page
from producers.zoho.pgbudget import PgLedger, dsn_connect
from producers.zoho.ratelimit import SAFETY_S, WINDOW_S, Clock, RateLimiter, RealClock
from producers.zoho.responses import Answer, classify, parse_envelope
from producers.zoho.timefmt import record_modified
from producers.zoho.tokens import (
    MemoryTokenStore,
    PgTokenStore,
    StoredToken,
    TokenProvider,
    TokenStore,
)
from tds.metrics import Metrics
from tds.settings import Settings

logger = logging.getLogger(__name__)

ITEMDETAILS_CHUNK = 100


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Tuning of retries, timeouts and budgets (defaults suit Zoho's documented limits)."""

    timeout_s: float = 30.0
    max_attempts: int = 5  # per call, for 5xx, timeouts, bad pages and transient 400s
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_rate_waits: int = 5  # 429/44 window waits per call before giving up
    per_minute: int = 100
    # Calls in flight and per day for the whole org (every process); None: the settings'
    # ZOHO_CONCURRENCY and ZOHO_DAILY_LIMIT.
    concurrency: int | None = None
    daily: int | None = None
    # Pace calls evenly (True) so other processes of the org find budget at any moment;
    # False spends each minute's budget at once (a bulk pull alone on the org is faster).
    smooth: bool = True
    token_margin_s: float = 300.0  # refresh this long before expiry (tokens live an hour)
    token_block_s: float = 600.0  # longest wait between probes of a token throttle
    token_probe_s: float = 60.0  # first wait after a throttle; doubles per refusal
    # Serve the budget by class (False: first come, first served; for comparisons).
    priorities: bool = True


class ZohoClient:
    """Zoho API calls for one organization, through one budget and one shared token."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        metrics: Metrics | None = None,
        pool: asyncpg.Pool | None = None,
        token_store: TokenStore | None = None,
        session: aiohttp.ClientSession | None = None,
        options: ClientOptions | None = None,
        clock: Clock | None = None,
        limiter: RateLimiter | None = None,
        ledger: Ledger | None = None,
        priority: Priority = Priority.REALTIME,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._pool = pool
        self._store = token_store
        self._session = session
        self._owns_session = False
        self.options = options or ClientOptions()
        self._clock = clock or RealClock()
        self._limiter = limiter
        self._ledger = ledger
        self.priority = priority  # the budget class of calls that name none
        self._tokens: TokenProvider | None = None
        self._org: str | None = None
        self._rng = random.Random()

    # -- set-up ------------------------------------------------------------------------

    def _ready(self) -> TokenProvider:
        if self._tokens is not None:
            return self._tokens
        settings = self._settings if self._settings is not None else Settings.from_env()
        self._settings = settings
        if not settings.zoho_organization_id:
            raise ZohoConfigError("ZOHO_ORGANIZATION_ID is not set (digits of the Zoho org)")
        self._org = settings.zoho_organization_id
        endpoints = dc.resolve(settings.zoho_dc, settings.zoho_api_base)
        store = self._store
        if store is None:
            if self._pool is not None:
                store = PgTokenStore.from_pool(self._pool)
            elif settings.database_url:
                store = PgTokenStore.from_dsn(settings.database_url)
            else:
                logger.warning("no DATABASE_URL: the Zoho token is cached in this process only")
                store = MemoryTokenStore()
        opts = self.options
        self._tokens = TokenProvider(
            client_id=settings.zoho_client_id, client_secret=settings.zoho_client_secret,
            refresh_token=settings.zoho_refresh_token, endpoints=endpoints, store=store,
            metrics=self._metrics, margin_s=opts.token_margin_s,
            throttle_block_s=opts.token_block_s, throttle_probe_s=opts.token_probe_s)
        if self._limiter is None:
            daily = opts.daily if opts.daily is not None else settings.zoho_daily_limit
            self._limiter = RateLimiter(
                per_minute=opts.per_minute,
                concurrency=opts.concurrency or settings.zoho_concurrency,
                daily=daily or None, smooth=opts.smooth, clock=self._clock,
                metrics=self._metrics, call_timeout_s=opts.timeout_s,
                ledger=self._ledger or self._shared_ledger(settings))
        return self._tokens

    def _shared_ledger(self, settings: Settings) -> Ledger | None:
        """The org's budget queue in PostgreSQL, so every process shares one budget."""
        connect = self._pool.acquire if self._pool is not None else (
            dsn_connect(settings.database_url) if settings.database_url else None)
        if connect is None:
            return None  # this process alone: the limiter's in-memory queue
        assert self._org is not None
        return PgLedger(connect, org_id=self._org, owner=f"{socket.gethostname()}:{os.getpid()}",
                        window_s=WINDOW_S + SAFETY_S, priorities=self.options.priorities)

    def for_class(self, priority: Priority) -> ZohoClient:
        """This client (same session, token and budget) with calls in `priority`'s class;
        the view never closes the session (its parent does)."""
        self._ready()
        view = copy.copy(self)
        view.priority = priority
        view._owns_session = False
        return view

    @property
    def organization_id(self) -> str:
        """The organization every call is made for."""
        self._ready()
        assert self._org is not None
        return self._org

    @property
    def limiter(self) -> RateLimiter:
        """The request budget (shared by every coroutine using this client)."""
        self._ready()
        assert self._limiter is not None
        return self._limiter

    async def __aenter__(self) -> Self:
        self._ready()
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session this client opened."""
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None
        self._owns_session = False

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[aiohttp.ClientSession]:
        # Outside `async with client` a call gets a session of its own, so nothing leaks.
        if self._session is not None:
            yield self._session
            return
        async with aiohttp.ClientSession() as session:
            yield session

    # -- the call loop -------------------------------------------------------------------

    async def request(
        self,
        product: str,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        endpoint: str | None = None,
        binary: bool = False,
        method: str = "GET",
        body: Mapping[str, Any] | None = None,
        priority: Priority | None = None,
    ) -> Answer:
        """Call `path` of `product` with retries; raise a ZohoError unless Zoho says success.

        `priority` is the call's budget class (default: the client's `priority`). A write
        (`method` other than GET) is sent again only when Zoho surely did not apply it (401
        before a token refresh, 429 and 1070 budget refusals); a 5xx or a lost connection
        may have applied it, so it is raised at once for the caller to decide.
        """
        klass = self.priority if priority is None else priority
        if method != "GET":
            return await self._write(product, path, params, endpoint, method, body, klass)
        tokens = self._ready()
        limiter = self.limiter
        name = endpoint or path.strip("/")
        query = {"organization_id": self.organization_id, **(params or {})}
        rejected: str | None = None
        refreshed = False
        attempt = rate_waits = 0
        async with self._http() as session:
            while True:
                attempt += 1
                try:
                    token = await tokens.get(self._post_form(session), reject=rejected)
                    answer = await self._send(session, token, product, path, query, name,
                                              binary, klass)
                except (ZohoTokenThrottled, ZohoDailyLimitExceeded):
                    raise  # waiting minutes or hours inside one call helps nobody
                except ZohoError as exc:
                    if exc.retriable and attempt < self.options.max_attempts:
                        await self._backoff(attempt, name, exc)
                        continue
                    raise
                error = None if binary and _is_binary(answer) else classify(answer, name)
                if error is None:
                    limiter.success()
                    return answer
                if isinstance(error, ZohoAuthError):
                    if refreshed:
                        raise error
                    refreshed = True  # one forced refresh, then the token is really refused
                    rejected = token.access_token
                    attempt -= 1
                    continue
                if isinstance(error, ZohoRateLimited):
                    if error.code == 45:
                        raise await limiter.daily_exhausted() from error
                    wait = limiter.minute_exhausted(answer.headers)
                    rate_waits += 1
                    if rate_waits > self.options.max_rate_waits:
                        error.retry_after_s = wait
                        raise error
                    logger.warning("%s: per-minute limit hit; waiting %.1f s", name, wait)
                    attempt -= 1
                    continue
                if error.code == 1070:
                    await limiter.too_concurrent()
                if error.retriable and attempt < self.options.max_attempts:
                    await self._backoff(attempt, name, error)
                    continue
                if isinstance(error, ZohoBadRequest):
                    error.retriable = False
                raise error

    async def _write(self, product: str, path: str, params: Mapping[str, str] | None,
                     endpoint: str | None, method: str,
                     body: Mapping[str, Any] | None, priority: Priority) -> Answer:
        tokens = self._ready()
        limiter = self.limiter
        name = endpoint or path.strip("/")
        query = {"organization_id": self.organization_id, **(params or {})}
        rejected: str | None = None
        refreshed = False
        rate_waits = 0
        async with self._http() as session:
            while True:
                token = await tokens.get(self._post_form(session), reject=rejected)
                answer = await self._send(session, token, product, path, query, name, False,
                                          priority, method=method, body=body)
                error = classify(answer, name)
                if error is None:
                    limiter.success()
                    return answer
                if isinstance(error, ZohoAuthError) and not refreshed:
                    refreshed, rejected = True, token.access_token
                    continue
                if isinstance(error, (ZohoRateLimited, ZohoConcurrencyLimited)):
                    if error.code == 45:
                        raise await limiter.daily_exhausted() from error
                    if error.code == 1070:
                        await limiter.too_concurrent()
                        wait = self.options.backoff_base_s
                        await self._clock.sleep(wait)
                    else:
                        wait = limiter.minute_exhausted(answer.headers)
                    rate_waits += 1
                    if rate_waits > self.options.max_rate_waits:
                        error.retry_after_s = wait
                        raise error
                    continue
                if isinstance(error, ZohoBadRequest):
                    error.retriable = False  # a write Zoho refused stays refused
                raise error

    async def _send(
        self,
        session: aiohttp.ClientSession,
        token: StoredToken,
        product: str,
        path: str,
        query: Mapping[str, str],
        name: str,
        binary: bool,
        priority: Priority,
        *,
        method: str = "GET",
        body: Mapping[str, Any] | None = None,
    ) -> Answer:
        # Encode the query ourselves: `+` in Zoho timestamps must travel as %2B.
        url = f"{dc.product_url(token.api_domain, product, path)}?" + urlencode(
            query, quote_via=quote)
        headers = {"Authorization": f"Zoho-oauthtoken {token.access_token}"}
        timeout = aiohttp.ClientTimeout(total=self.options.timeout_s)
        async with self.limiter.slot(priority):
            try:
                async with session.request(method, url, headers=headers, timeout=timeout,
                                           json=body) as resp:
                    answer_body = await resp.read()
                    answer_headers = CIMultiDict(resp.headers)
                    status = resp.status
                    content_type = resp.content_type or ""
            except (TimeoutError, aiohttp.ClientError) as exc:
                self._count(name, "timeout" if isinstance(exc, TimeoutError) else "error")
                raise ZohoTimeout(f"{name}: {type(exc).__name__}: {exc}", endpoint=name) from exc
        self._count(name, str(status))
        if status == 429:
            self._rate_limited(answer_body, priority)
        else:
            self.limiter.observe(answer_headers)
        envelope = None if binary and content_type.startswith("image/") else \
            parse_envelope(answer_body)
        return Answer(status, answer_headers, answer_body, content_type, envelope)

    def _post_form(self, session: aiohttp.ClientSession) -> Any:
        async def post(url: str, form: dict[str, str]) -> tuple[int, bytes]:
            timeout = aiohttp.ClientTimeout(total=self.options.timeout_s)
            try:
                async with session.post(url, data=form, timeout=timeout) as resp:
                    return resp.status, await resp.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                self._count("oauth", "error")
                raise ZohoTimeout(f"oauth: {type(exc).__name__}: {exc}", endpoint="oauth") \
                    from exc

        return post

    async def _backoff(self, attempt: int, name: str, error: ZohoError) -> None:
        cap = min(self.options.backoff_max_s, self.options.backoff_base_s * 2 ** (attempt - 1))
        delay = self._rng.uniform(cap / 2, cap)  # jitter: clients that failed together spread
        logger.warning("%s failed (%s); retry %d in %.2f s", name, error, attempt, delay)
        await self._clock.sleep(delay)

    def _count(self, endpoint: str, status: str) -> None:
        if self._metrics is not None:
            self._metrics.zoho_api_calls.labels(endpoint=endpoint, status=status).inc()

    def _rate_limited(self, body: bytes, priority: Priority) -> None:
        if self._metrics is None:
            return
        envelope = parse_envelope(body)
        code = str(envelope.get("code") if envelope else None)
        self._metrics.zoho_rate_limited.labels(code=code).inc()
        self._metrics.zoho_budget_rate_limited.labels(priority=priority.label, code=code).inc()

    def _learn_offset(self, records: Sequence[dict[str, Any]]) -> None:
        for record in records[:1]:
            modified = record_modified(record)
            offset = modified.utcoffset() if modified is not None else None
            if offset is not None:
                self.limiter.utc_offset = timezone(offset)

    # -- entities ------------------------------------------------------------------------

    async def list_json(
        self, definition: EntityDef, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """One list call's envelope; raises ZohoBadResponse when the list key is missing."""
        answer = await self.request(definition.product, definition.path, params,
                                    endpoint=definition.path.strip("/"))
        envelope = answer.envelope or {}
        rows = envelope.get(definition.list_key)
        if not isinstance(rows, list):
            raise ZohoBadResponse(f"{definition.path}: no `{definition.list_key}` list")
        self._learn_offset(rows)
        return envelope

    async def get_record(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        """The full record (as GET returns it), or None when Zoho says it does not exist."""
        definition = entity_def(entity_type)
        try:
            answer = await self.request(definition.product, f"{definition.path}/{entity_id}",
                                        endpoint=f"{definition.path.strip('/')}/id")
        except ZohoNotFound:
            return None
        record = (answer.envelope or {}).get(definition.single_key)
        if not isinstance(record, dict):
            raise ZohoBadResponse(f"{definition.path}/{entity_id}: no "
                                  f"`{definition.single_key}` object")
        return record

    async def get_item_details(self, item_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Full item records (with per-location stock) through /itemdetails, 100 ids a call."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(item_ids), ITEMDETAILS_CHUNK):
            chunk = item_ids[start:start + ITEMDETAILS_CHUNK]
            answer = await self.request("inventory", "/itemdetails",
                                        {"item_ids": ",".join(chunk)}, endpoint="itemdetails")
            rows = (answer.envelope or {}).get("items")
            if not isinstance(rows, list):
                raise ZohoBadResponse("itemdetails: no `items` list")
            out.extend(r for r in rows if isinstance(r, dict))
        return out

    async def get_image(self, item_id: str) -> tuple[bytes, str] | None:
        """The item's image bytes and content type, or None when it has no image."""
        try:
            answer = await self.request("inventory", f"/items/{item_id}/image",
                                        endpoint="items/image", binary=True)
        except (ZohoNotFound, ZohoBadRequest):
            return None
        if not _is_binary(answer) or not answer.body:
            return None
        return answer.body, answer.content_type

    async def get_items(
        self, page: int = 1, per_page: int = 200, filter_by: str | None = None
    ) -> Page:
        """One page of items (the guide's call): `.records`, `.has_more_page`."""
        return await list_page(self, "item", page=page, per_page=per_page,
                               filter_by=filter_by)

    def iter_pages(self, entity_type: str, **kwargs: Any) -> AsyncIterator[Page]:
        """Every page of `entity_type` (see `producers.zoho.paging.iter_pages`)."""
        return iter_pages(self, entity_type, **kwargs)


def _is_binary(answer: Answer) -> bool:
    return answer.status == 200 and not answer.content_type.endswith("json") and \
        answer.envelope is None


__all__ = ["ClientOptions", "ZohoClient"]
