"""Every error path of the client against the simulator (or a stub where the simulator
cannot produce it): auth, organization, rate limits, 5xx, timeouts, broken pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from producers.zoho.client import ClientOptions, ZohoClient
from producers.zoho.errors import (
    ZohoAuthError,
    ZohoConcurrencyLimited,
    ZohoDailyLimitExceeded,
    ZohoOrganizationError,
    ZohoServerError,
    ZohoTimeout,
)
from producers.zoho.tokens import MemoryTokenStore
from tds.metrics import Metrics
from tests.integration.zoho.conftest import ClientFactory
from tests.integration.zoho.simkit import Sim, SimClock, stats_requests
from tests.support.simulator import requests_in_flight
from tests.support.waits import until


async def _pull_items(client: ZohoClient, per_page: int = 20) -> dict[str, object]:
    out: dict[str, object] = {}
    async for page in client.iter_pages("item", per_page=per_page):
        out.update({r["item_id"]: r for r in page})
    return out


async def test_wrong_organization_is_6041_and_not_retried(
        sim: Sim, make_client: ClientFactory) -> None:
    async with make_client(settings_env={"ZOHO_ORGANIZATION_ID": "999"}) as client:
        with pytest.raises(ZohoOrganizationError) as info:
            await client.get_record("item", "1")
    assert info.value.code == 6041 and info.value.status == 400
    assert not info.value.retriable
    assert stats_requests(await sim.control("stats")) == 1


async def test_refused_token_57_forces_exactly_one_refresh(
        sim: Sim, make_client: ClientFactory) -> None:
    async with make_client() as client:
        item_id = next(iter((await sim.truth("items"))["records"]))
        assert await client.get_record("item", item_id)
        for access in list(sim.state.tokens._tokens):  # revoke every live access token
            sim.state.tokens.revoke(access)
        assert await client.get_record("item", item_id)
    stats = await sim.control("stats")
    assert stats["oauth"]["tokens_issued"] == 2
    assert stats["requests"]["by_code"]["57"] == 1


async def test_token_refused_after_refresh_is_an_auth_error(
        sim: Sim, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim.state.tokens, "valid", lambda token: False)
    async with make_client() as client:
        with pytest.raises(ZohoAuthError) as info:
            await client.get_record("item", "1")
    assert info.value.code == 57 and not info.value.retriable
    stats = await sim.control("stats")
    assert stats["oauth"]["tokens_issued"] == 2  # the cached one, then one forced refresh
    assert stats["requests"]["by_code"]["57"] == 2


@pytest.fixture
async def code14_server() -> AsyncIterator[str]:
    """A stub Zoho that issues tokens but answers every API call 401 code 14."""
    calls = {"token": 0}

    async def token(request: web.Request) -> web.Response:
        calls["token"] += 1
        return web.json_response({"access_token": f"t{calls['token']}", "expires_in": 3600,
                                  "api_domain": str(request.url.origin())})

    async def api(request: web.Request) -> web.Response:
        return web.json_response({"code": 14, "message": "Invalid value passed for authtoken."},
                                 status=401)

    app = web.Application()
    app.router.add_post("/oauth/v2/token", token)
    app.router.add_get("/{tail:.*}", api)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    assert calls["token"] == 2
    await server.close()


async def test_unauthenticated_14_is_an_auth_error(sim: Sim, code14_server: str) -> None:
    settings = sim.settings(ZOHO_API_BASE=code14_server)
    async with ZohoClient(settings, token_store=MemoryTokenStore()) as client:
        with pytest.raises(ZohoAuthError) as info:
            await client.get_record("contact", "1")
    assert info.value.code == 14 and info.value.status == 401


def _spend_minute(sim: Sim, count: int) -> None:
    org = sim.creds["organization_id"]
    for _ in range(count):
        sim.state.limiter.acquire(org)
        sim.state.limiter.release(org)


async def test_429_44_waits_for_the_window(sim: Sim, make_client: ClientFactory) -> None:
    clock = SimClock(sim.state)
    metrics = Metrics.create()
    _spend_minute(sim, 100)  # another app of the org spent this minute
    async with make_client(clock=clock, metrics=metrics) as client:
        pulled = await _pull_items(client, per_page=50)
    assert len(pulled) == 120
    stats = await sim.control("stats")
    assert stats["rate_limited"]["44"] == 1
    assert clock.slept >= 1.0  # it waited for the next window instead of hammering
    assert metrics.zoho_rate_limited.labels(code="44")._value.get() == 1
    assert metrics.zoho_api_calls.labels(endpoint="items", status="429")._value.get() == 1
    assert metrics.zoho_api_calls.labels(endpoint="items", status="200")._value.get() >= 3
    assert metrics.zoho_token_refreshes.labels(outcome="ok")._value.get() == 1
    assert metrics.zoho_budget_remaining.labels(window="minute")._value.get() > 0


async def test_our_own_pace_never_trips_the_minute(sim: Sim, make_client: ClientFactory) \
        -> None:
    await sim.control("limits", {"per_minute": 10})
    async with make_client(clock=SimClock(sim.state)) as client:
        pulled = await _pull_items(client, per_page=5)  # 24+ calls at 10/minute
    assert len(pulled) == 120
    assert (await sim.control("stats"))["rate_limited"]["44"] == 0


async def test_429_45_suspends_until_reset(sim: Sim, make_client: ClientFactory) -> None:
    await sim.control("limits", {"daily": 3})
    async with make_client() as client:
        with pytest.raises(ZohoDailyLimitExceeded) as info:
            await _pull_items(client, per_page=10)
        error = info.value
        assert error.retriable and error.retry_after_s is not None
        assert 0 < error.retry_after_s <= 3600
        before = stats_requests(await sim.control("stats"))
        clock = client._clock
        assert isinstance(clock, SimClock)
        slept = clock.slept
        with pytest.raises(ZohoDailyLimitExceeded):
            await client.get_record("item", "1")
        assert clock.slept == slept  # raised at once: no backoff, no call
        assert stats_requests(await sim.control("stats")) == before  # suspended: no call
    assert (await sim.control("stats"))["rate_limited"]["45"] == 1


async def test_429_1070_lowers_concurrency(sim: Sim, make_client: ClientFactory) -> None:
    await sim.control("limits", {"concurrency": 2})
    await sim.control("faults", {"latency_ms": 40})
    ids = list((await sim.truth("contacts"))["records"])[:16]
    async with make_client(concurrency=6, per_minute=10_000) as client:
        results = await asyncio.gather(*(client.get_record("contact", i) for i in ids))
        assert all(results)
        assert client.limiter.concurrency <= 2
    assert (await sim.control("stats"))["rate_limited"]["1070"] > 0


async def test_1070_that_never_clears_is_retriable(sim: Sim, make_client: ClientFactory,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.errors import ZohoError
    from simulator.ratelimit import MESSAGES

    def refuse(org: str) -> None:
        raise ZohoError(429, 1070, MESSAGES[1070])

    monkeypatch.setattr(sim.state.limiter, "acquire", refuse)
    async with make_client(max_attempts=3) as client:
        with pytest.raises(ZohoConcurrencyLimited) as info:
            await client.get_record("item", "1")
    assert info.value.retriable and client.limiter.concurrency == 1


async def test_5xx_is_retried_with_backoff(sim: Sim, make_client: ClientFactory) -> None:
    await sim.control("faults", {"error_rate": 0.3})
    clock = SimClock(sim.state)
    async with make_client(clock=clock) as client:
        pulled = await _pull_items(client, per_page=10)
    assert pulled == (await sim.control("state/items?view=list"))["records"]
    assert (await sim.control("stats"))["requests"]["by_status"]["500"] > 0


async def test_5xx_that_persists_gives_up_retriable(sim: Sim, make_client: ClientFactory) \
        -> None:
    await sim.control("faults", {"error_rate": 1.0})
    async with make_client(max_attempts=4) as client:
        with pytest.raises(ZohoServerError) as info:
            await client.get_record("item", "1")
    assert info.value.retriable and info.value.status == 500
    assert stats_requests(await sim.control("stats")) == 4


async def test_timeouts_are_retried_then_reported(sim: Sim, make_client: ClientFactory) \
        -> None:
    await sim.control("faults", {"timeout_rate": 1.0, "timeout_hang_s": 0.6})
    async with make_client(timeout_s=0.2, max_attempts=2) as client:
        with pytest.raises(ZohoTimeout) as info:
            await client.get_record("item", "1")
        assert info.value.retriable
        await sim.control("faults", {"timeout_rate": 0.3})
        pulled = await _pull_items(client, per_page=30)
    assert len(pulled) == 120
    await until(lambda: requests_in_flight(sim.state) == 0, 10,
                what="the hung handlers finished before the server stops")


async def test_truncated_and_malformed_pages_are_fetched_again(
        sim: Sim, make_client: ClientFactory) -> None:
    await sim.control("faults", {"truncate_rate": 0.3, "malformed_rate": 0.2})
    async with make_client() as client:
        pulled = await _pull_items(client, per_page=10)
    assert pulled == (await sim.control("state/items?view=list"))["records"]
    faults = (await sim.control("stats"))["faults"]
    assert faults.get("truncated", 0) + faults.get("malformed", 0) > 0


async def test_token_throttle_is_retriable_and_shared(
        sim: Sim, make_client: ClientFactory, pool: asyncpg.Pool) -> None:
    await sim.control("faults", {"force_token_block": True})
    first, second = make_client(), make_client()
    async with first, second:
        with pytest.raises(Exception) as info:
            await first.get_record("item", "1")
        assert type(info.value).__name__ == "ZohoTokenThrottled"
        assert info.value.retriable and (info.value.retry_after_s or 0) > 0  # type: ignore[attr-defined]
        blocked = await pool.fetchval("SELECT blocked_until FROM zoho_tokens")
        assert blocked is not None
        with pytest.raises(Exception) as again:  # another process: it does not even ask
            await second.get_record("item", "1")
        assert type(again.value).__name__ == "ZohoTokenThrottled"
    assert (await sim.control("stats"))["oauth"]["token_throttles"] == 1


async def test_many_processes_share_one_token(sim: Sim, make_client: ClientFactory) -> None:
    ids = list((await sim.truth("items"))["records"])[:5]
    options = ClientOptions(per_minute=10_000)
    # Fifteen "process starts" and five concurrent workers, one refresh token.
    for _ in range(15):
        async with make_client(per_minute=options.per_minute) as client:
            assert await client.get_record("item", ids[0])
    workers = [make_client(per_minute=10_000) for _ in range(5)]
    for w in workers:
        await w.__aenter__()
    await asyncio.gather(*(w.get_record("item", i) for w in workers for i in ids))
    for access in list(sim.state.tokens._tokens):  # Zoho drops the token: all see 57 at once
        sim.state.tokens.revoke(access)
    results = await asyncio.gather(*(w.get_record("item", i) for w in workers for i in ids))
    assert all(results)
    stats = await sim.control("stats")
    assert stats["oauth"]["tokens_issued"] == 2
    assert stats["oauth"]["token_throttles"] == 0


async def test_an_unmigrated_database_says_run_migrate(sim: Sim, database_url: str,
                                                       pg_schema: str) -> None:
    from producers.zoho.errors import ZohoConfigError
    from producers.zoho.tokens import PgTokenStore

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1,
                                     server_settings={"search_path": pg_schema})
    try:
        async with ZohoClient(sim.settings(), token_store=PgTokenStore.from_pool(pool)) as c:
            with pytest.raises(ZohoConfigError, match="tds migrate"):
                await c.get_record("item", "1")
    finally:
        await pool.close()
