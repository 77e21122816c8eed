"""An in-process simulator on loopback, a virtual clock tied to it, and client settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

from simulator.app import build_app, state_of
from simulator.config import DataConfig, SimConfig
from simulator.state import SimState
from tds.migrate import apply
from tds.settings import Settings

START = 1_763_000_000.0  # 2025-11-13, after the generated history
MIGRATIONS = Path(__file__).resolve().parents[3] / "projections" / "migrations"


def small_data(**overrides: Any) -> DataConfig:
    """A few dozen records of every entity."""
    base = DataConfig(seed=11, items=120, locations=3, contacts=40, salesorders=30,
                      invoices=30, customerpayments=12, creditnotes=6, bills=8,
                      vendorpayments=5)
    return replace(base, **overrides)


def sim_config(*, manual_clock: bool = True, **overrides: Any) -> SimConfig:
    """A small simulator config; a manual clock unless asked otherwise."""
    config = SimConfig(data=small_data(), clock_start_epoch_s=START if manual_clock else None)
    return replace(config, **overrides)


class SimClock:
    """The client's clock: simulator time; sleeping moves the simulator forward."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.slept = 0.0

    def time(self) -> float:
        """Simulator epoch seconds."""
        return self.state.clock.now()

    async def sleep(self, seconds: float) -> None:
        """Advance the simulator instead of waiting."""
        if seconds > 0:
            self.slept += seconds
            self.state.clock.advance(seconds)
        await asyncio.sleep(0)


@dataclass
class Sim:
    """A running simulator."""

    server: TestServer
    state: SimState
    creds: dict[str, Any]
    http: aiohttp.ClientSession

    @property
    def base(self) -> str:
        """Its base URL (accounts and API)."""
        return str(self.server.make_url("")).rstrip("/")

    async def control(self, path: str, body: Any = None) -> Any:
        """GET (no body) or POST a /_sim/ endpoint; return its JSON."""
        url = f"{self.base}/_sim/{path}"
        if body is None:
            async with self.http.get(url) as resp:
                data = await resp.json()
        else:
            async with self.http.post(url, json=body) as resp:
                data = await resp.json()
        assert resp.status == 200, data
        return data

    async def truth(self, entity_path: str) -> dict[str, Any]:
        """Ground truth of a list path such as "items"."""
        data: dict[str, Any] = await self.control(f"state/{entity_path}")
        return data

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a TDS process talking to this simulator."""
        env = {
            "ZOHO_CLIENT_ID": self.creds["client_id"],
            "ZOHO_CLIENT_SECRET": self.creds["client_secret"],
            "ZOHO_REFRESH_TOKEN": self.creds["refresh_token"],
            "ZOHO_ORGANIZATION_ID": self.creds["organization_id"],
            "ZOHO_API_BASE": self.base,
        }
        env.update(extra)
        return env

    def settings(self, **extra: str) -> Settings:
        """Settings pointing at this simulator."""
        return Settings.from_env(self.env(**extra))


@asynccontextmanager
async def running_sim(config: SimConfig | None = None) -> AsyncIterator[Sim]:
    """Start a simulator on 127.0.0.1; stop it afterwards."""
    app = build_app(config or sim_config())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(str(server.make_url("/_sim/credentials"))) as resp:
                creds = await resp.json()
            yield Sim(server, state_of(app), creds, http)
    finally:
        await server.close()


@asynccontextmanager
async def schema_pool(database_url: str, schema: str,
                      **kwargs: Any) -> AsyncIterator[asyncpg.Pool]:
    """Migrate `schema` and open a small pool whose search_path is it."""
    await apply(database_url, MIGRATIONS, schema=schema)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4,
                                     server_settings={"search_path": schema}, **kwargs)
    try:
        yield pool
    finally:
        await pool.close()


def schema_dsn(database_url: str, schema: str) -> str:
    """A DSN whose connections use `schema` (asyncpg passes unknown query keys as settings)."""
    sep = "&" if "?" in database_url else "?"
    return f"{database_url}{sep}search_path={schema}"


def stats_requests(stats: Mapping[str, Any]) -> int:
    """Total API requests in a /_sim/stats answer."""
    return int(stats["requests"]["total"])
