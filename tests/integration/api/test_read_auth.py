"""Admin reads need the bearer token unless TDS_API_OPEN_READS opens them; the health probe
answers everyone, with only its status unless the caller may read."""

from __future__ import annotations

import dataclasses

import pytest

from tests.integration.api.conftest import TOKEN, ApiHarness

AUTH = {"Authorization": f"Bearer {TOKEN}"}
READS = ("/api/tds/status", "/api/tds/queue", "/api/tds/history", "/api/tds/sync-runs",
         "/api/tds/sync-runs/r1", "/api/tds/sync-runs/r1?format=log", "/api/tds/deadletter",
         "/api/bff/tds/status", "/api/bff/tds/recent", "/metrics")
OPEN = ("/tds-admin", "/tds-admin/static/dashboard.js", "/api/openapi.json")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": f"Basic {TOKEN}"}])
async def test_reads_without_the_token_are_refused(api: ApiHarness,
                                                   headers: dict[str, str]) -> None:
    for path in READS:
        response = await api.client.get(path, headers=headers)
        assert response.status == 401, path
        doc = await response.json()
        assert doc["error"] == "unauthorized" and TOKEN not in str(doc)
    for path in OPEN:  # the page and its files hold no data: it asks for the token
        assert (await api.client.get(path, headers=headers)).status == 200, path


async def test_health_says_only_its_status_without_the_token(api: ApiHarness) -> None:
    anonymous = await api.client.get("/api/tds/health")
    assert anonymous.status == 200
    assert await anonymous.json() == {"status": "degraded"}
    wrong = await api.client.get("/api/tds/health", headers={"Authorization": "Bearer x"})
    assert await wrong.json() == {"status": "degraded"}
    full = await (await api.client.get("/api/tds/health", headers=AUTH)).json()
    assert full["status"] == "degraded" and "no stream worker is running" in full["problems"]


async def test_reads_with_the_token_are_served(api: ApiHarness) -> None:
    for path in READS:
        response = await api.client.get(path, headers=AUTH)
        assert response.status == (404 if "/r1" in path else 200), path


async def test_open_reads_serve_everyone_but_writes_still_need_the_token(
        api: ApiHarness) -> None:
    api.ctx.settings = dataclasses.replace(api.ctx.settings, api_open_reads=True)
    for path in READS:
        assert (await api.client.get(path)).status in (200, 404), path
    assert "problems" in await (await api.client.get("/api/tds/health")).json()
    assert (await api.client.post("/api/tds/sync", json={})).status == 401


async def test_with_no_token_configured_closed_reads_say_how_to_open_them(
        api: ApiHarness) -> None:
    api.ctx.settings = dataclasses.replace(api.ctx.settings, api_token=type(
        api.ctx.settings.api_token)(""))
    response = await api.client.get("/api/tds/status", headers=AUTH)
    assert response.status == 401
    assert "set TDS_API_TOKEN" in (await response.json())["detail"]
