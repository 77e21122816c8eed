"""The /_sim/ control API."""

from __future__ import annotations

from simulator.entities import ENTITIES
from tests.unit.simulator.conftest import START, Sim


async def test_credentials(sim: Sim) -> None:
    creds = await sim.control("credentials")
    assert {
        "client_id",
        "client_secret",
        "refresh_token",
        "organization_id",
        "api_domain",
        "accounts_url",
    } <= set(creds)
    assert creds["api_domain"] == creds["accounts_url"] == sim.base
    assert creds["organization_id"] == "20077551234"


async def test_ground_truth_matches_get(sim: Sim) -> None:
    for path, spec in ENTITIES.items():
        truth = await sim.control(f"state/{path}")
        assert truth["deleted"] == []
        assert len(truth["records"]) == len(sim.state.store.table(path).records)
        rid, record = next(iter(truth["records"].items()))
        prefix = "/settings/warehouses" if path == "locations" else f"/{path}"
        if path != "locations":
            _, body, _ = await sim.call(f"{prefix}/{rid}")
            assert body[spec.single_key] == record
    listing = await sim.control("state/items?view=list")
    assert all("locations" not in r for r in listing["records"].values())
    resp = await sim.client.get("/_sim/state/widgets")
    assert resp.status == 400


async def test_clock(sim: Sim) -> None:
    body = await sim.control("clock")
    assert body == {"now": START, "time": "2025-11-13T05:13:20+0300", "manual": True}
    body = await sim.control("clock", {"advance_s": 3600})
    assert body["now"] == START + 3600
    resp = await sim.client.post("/_sim/clock", json={"advance_s": -1})
    assert resp.status == 400


async def test_stats_shape(sim: Sim) -> None:
    await sim.call("/items")
    stats = await sim.control("stats")
    assert set(stats) == {"requests", "rate_limited", "oauth", "webhooks", "changes", "faults"}
    assert stats["oauth"]["tokens_issued"] == 1
    assert {
        "sent",
        "delivered",
        "failed",
        "retried",
        "dropped",
        "duplicated",
        "suppressed",
        "overflow",
        "pending",
    } <= set(stats["webhooks"])


async def test_reset_clears_token_state_and_windows(sim: Sim) -> None:
    await sim.control("limits", {"per_minute": 1})
    token = await sim.token()
    assert (await sim.call("/items", token=token))[0] == 200
    assert (await sim.call("/items", token=token))[0] == 429
    body = await sim.control("reset", {})
    assert body == {"reset": ["limits", "tokens"]}
    assert (await sim.call("/items", token=token))[0] == 401  # tokens are forgotten too
    tokens = await sim.control("tokens")
    assert tokens["active_access_tokens"] == 0


async def test_bad_json(sim: Sim) -> None:
    resp = await sim.client.post("/_sim/faults", data=b"{nope")
    assert resp.status == 400
    assert (await resp.json())["error"] == "the body is not valid JSON"
    resp = await sim.client.post("/_sim/faults", json=[1, 2])
    assert resp.status == 400
