"""Quotas: per-minute (44), daily (45), in-flight (1070), and the X-Rate-Limit headers."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from simulator.config import LimitConfig
from tests.unit.simulator.conftest import START, Sim, SimFactory, small_config


async def test_per_minute_limit_and_headers(sim_factory: SimFactory) -> None:
    sim = await sim_factory(small_config(limits=LimitConfig(per_minute=5)))
    remaining = []
    for _ in range(5):
        status, _, headers = await sim.call("/items", {"per_page": "1"})
        assert status == 200
        assert headers["X-Rate-Limit-Limit"] == "5"
        remaining.append(int(headers["X-Rate-Limit-Remaining"]))
        reset = int(headers["X-Rate-Limit-Reset"])
        assert 1 <= reset <= 60
    assert remaining == [4, 3, 2, 1, 0]
    assert int(headers["X-Rate-Limit-Reset"]) == 60 - int(START) % 60
    status, body, headers = await sim.call("/items", {"per_page": "1"})
    assert status == 429
    assert body["code"] == 44 and isinstance(body["message"], str)
    assert "Retry-After" not in headers
    assert not any(h.startswith("X-Rate-Limit") for h in headers)
    await sim.control("clock", {"advance_s": 60})
    status, _, headers = await sim.call("/items", {"per_page": "1"})
    assert status == 200
    assert headers["X-Rate-Limit-Remaining"] == "4"
    stats = await sim.control("stats")
    assert stats["rate_limited"] == {"44": 1, "45": 0, "1070": 0}


async def test_daily_limit_until_the_org_day_rolls(sim_factory: SimFactory) -> None:
    sim = await sim_factory(small_config(limits=LimitConfig(daily=3)))
    for _ in range(3):
        assert (await sim.call("/items"))[0] == 200
        await sim.control("clock", {"advance_s": 61})
    status, body, _ = await sim.call("/items")
    assert (status, body["code"]) == (429, 45)
    await sim.control("clock", {"advance_s": 86_400})
    sim.cached = None  # the access token expired meanwhile
    assert (await sim.call("/items"))[0] == 200


async def test_concurrency_limit_1070(sim_factory: SimFactory) -> None:
    sim = await sim_factory(small_config(limits=LimitConfig(concurrency=3)))
    await sim.control("faults", {"latency_ms": 300})
    await sim.call("/organizations", org=False)  # warm the token cache
    results = await asyncio.gather(*(sim.call("/items", {"per_page": "1"}) for _ in range(5)))
    codes = sorted(body["code"] for _, body, _ in results)
    assert codes == [0, 0, 0, 1070, 1070]
    assert {s for s, _, _ in results} == {200, 429}


async def test_images_share_the_quota(sim_factory: SimFactory) -> None:
    sim = await sim_factory(small_config(limits=LimitConfig(per_minute=2)))
    item = next(r for r in sim.state.store.table("items").records.values() if r.data["image_id"])
    token = await sim.token()
    auth = {"Authorization": f"Zoho-oauthtoken {token}"}
    params = {"organization_id": sim.creds["organization_id"]}
    for _ in range(2):
        resp = await sim.client.get(f"/books/v3/items/{item.id}/image", params=params, headers=auth)
        assert resp.status == 200
    status, body, _ = await sim.call("/items", token=token)
    assert (status, body["code"]) == (429, 44)


async def test_limits_change_at_run_time_and_reset_clears_windows(sim: Sim) -> None:
    body = await sim.control("limits", {"per_minute": 1, "daily": 50, "concurrency": 4})
    assert (body["per_minute"], body["daily"], body["concurrency"]) == (1, 50, 4)
    assert (await sim.call("/items"))[0] == 200
    assert (await sim.call("/items"))[0] == 429
    await sim.control("reset", {"limits": True, "tokens": False})
    assert (await sim.call("/items"))[0] == 200
    resp = await sim.client.post("/_sim/limits", json={"per_minute": 0})
    assert resp.status == 400
    assert "per_minute" in (await resp.json())["error"]


async def test_default_limits() -> None:
    assert replace(LimitConfig()) == LimitConfig(per_minute=100, daily=10_000, concurrency=10)
