"""Fixtures: in-process simulators and a webhook receiver, built per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from simulator.app import build_app, state_of
from simulator.config import DataConfig, SimConfig
from simulator.state import SimState

START = 1_763_000_000.0  # 2025-11-13, after the generated history (which ends 2025-11-01)
ORG = "20077551234"


def small_config(**overrides: Any) -> SimConfig:
    """Return a quick config: a few dozen records, manual clock."""
    data = DataConfig(
        seed=7,
        items=60,
        locations=3,
        contacts=30,
        salesorders=40,
        invoices=40,
        customerpayments=12,
        creditnotes=8,
        bills=10,
        vendorpayments=6,
    )
    return replace(SimConfig(data=data, clock_start_epoch_s=START), **overrides)


@dataclass
class Sim:
    """A running in-process simulator and helpers to call it."""

    client: TestClient[web.Request, web.Application]
    state: SimState
    creds: dict[str, str] = field(default_factory=dict)
    cached: str | None = None

    @property
    def base(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    async def token(self) -> str:
        resp = await self.client.post(
            "/oauth/v2/token",
            params={
                "grant_type": "refresh_token",
                "client_id": self.creds["client_id"],
                "client_secret": self.creds["client_secret"],
                "refresh_token": self.creds["refresh_token"],
            },
        )
        body = await resp.json()
        assert resp.status == 200, body
        token = body["access_token"]
        assert isinstance(token, str)
        return token

    async def call(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        token: str | None = None,
        prefix: str = "/books/v3",
        org: bool = True,
    ) -> tuple[int, Any, dict[str, str]]:
        """GET an API path with auth and organization_id; return status, JSON, headers."""
        query = dict(params or {})
        if org:
            query.setdefault("organization_id", self.creds["organization_id"])
        if token is None:
            self.cached = token = self.cached or await self.token()
        resp = await self.client.get(
            prefix + path, params=query, headers={"Authorization": f"Zoho-oauthtoken {token}"}
        )
        body = await resp.json(content_type=None)
        return resp.status, body, dict(resp.headers)

    async def control(self, path: str, body: Any = None) -> Any:
        """POST (with a body) or GET a control endpoint and return its JSON."""
        if body is None:
            resp = await self.client.get(f"/_sim/{path}")
        else:
            resp = await self.client.post(f"/_sim/{path}", json=body)
        data = await resp.json()
        assert resp.status == 200, data
        return data


SimFactory = Callable[..., Awaitable[Sim]]


@pytest.fixture
async def sim_factory() -> AsyncIterator[SimFactory]:
    """Return a factory of running simulators, closed after the test."""
    clients: list[TestClient[web.Request, web.Application]] = []

    async def make(config: SimConfig | None = None) -> Sim:
        app = build_app(config or small_config())
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        creds = await (await client.get("/_sim/credentials")).json()
        return Sim(client, state_of(app), creds)

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def sim(sim_factory: SimFactory) -> Sim:
    """Return a running small simulator."""
    return await sim_factory()


@dataclass
class Received:
    """One request the webhook receiver got."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint that records requests and answers with scripted statuses."""

    url: str
    requests: list[Received]
    statuses: list[int]  # popped per request; 200 once empty
    delay_s: list[float]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """Run a webhook receiver on loopback."""
    requests: list[Received] = []
    statuses: list[int] = []
    delay_s: list[float] = [0.0]

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        requests.append(
            Received(
                request.method,
                request.path,
                list(request.query.items()),
                dict(request.headers),
                body,
            )
        )
        if delay_s[0]:
            await asyncio.sleep(delay_s[0])
        return web.Response(status=statuses.pop(0) if statuses else 200)

    app = web.Application()
    app.router.add_route("*", "/hook", hook)
    server = TestServer(app)
    await server.start_server()
    yield Receiver(str(server.make_url("/hook")), requests, statuses, delay_s)
    await server.close()
