"""Fault injection: 5xx, latency, hangs, truncated and malformed pages."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.support.simulator import requests_in_flight
from tests.support.waits import until
from tests.unit.simulator.conftest import Sim


async def _raw(sim: Sim, path: str, client_timeout_s: float = 5.0) -> tuple[int, bytes]:
    token = sim.cached = sim.cached or await sim.token()
    resp = await sim.client.get(
        f"/books/v3{path}",
        params={"organization_id": sim.creds["organization_id"]},
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
        timeout=aiohttp.ClientTimeout(total=client_timeout_s),
    )
    return resp.status, await resp.read()


async def test_error_rate_gives_500_code_1000(sim: Sim) -> None:
    body = await sim.control("faults", {"error_rate": 1.0})
    assert body["error_rate"] == 1.0
    status, raw = await _raw(sim, "/items")
    assert status == 500
    assert json.loads(raw) == {"code": 1000, "message": "Internal Error"}
    await sim.control("faults", {"error_rate": 0.0})
    assert (await _raw(sim, "/items"))[0] == 200
    assert (await sim.control("stats"))["faults"]["error"] == 1


async def test_latency(sim: Sim) -> None:
    await sim.control("faults", {"latency_ms": 250})
    assert (await _raw(sim, "/items"))[0] == 200
    # Counted where the delay is applied (how long it took is no test's to judge).
    assert (await sim.control("stats"))["faults"]["latency"] == 1


async def test_timeout_hangs_past_the_client_timeout(sim: Sim) -> None:
    await sim.control("faults", {"timeout_rate": 1.0, "timeout_hang_s": 0.6})
    with pytest.raises(asyncio.TimeoutError):
        await _raw(sim, "/items", client_timeout_s=0.2)
    # the hung handler finishes (it holds the one concurrency slot) before the next request
    await until(lambda: requests_in_flight(sim.state) == 0, 10, what="the hung request ended")
    await sim.control("faults", {"timeout_rate": 0.0})
    assert (await _raw(sim, "/items"))[0] == 200


async def test_truncated_pages(sim: Sim) -> None:
    await sim.control("faults", {"truncate_rate": 1.0})
    status, raw = await _raw(sim, "/invoices")
    assert status == 200
    assert raw.startswith(b'{"code":0')
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    status, raw = await _raw(sim, "/organizations")  # single-object responses stay intact
    assert json.loads(raw)["code"] == 0


async def test_malformed_pages(sim: Sim) -> None:
    await sim.control("faults", {"malformed_rate": 1.0})
    status, raw = await _raw(sim, "/contacts")
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    assert (await sim.control("stats"))["faults"]["malformed"] == 1


async def test_fault_updates_are_validated(sim: Sim) -> None:
    for body in (
        {"error_rate": 2},
        {"latency_ms": "slow"},
        {"nope": 1},
        {"truncate_rate": 0.6, "malformed_rate": 0.6},
    ):
        resp = await sim.client.post("/_sim/faults", json=body)
        assert resp.status == 400, body
    current = await sim.control("faults")
    assert current["error_rate"] == 0.0
