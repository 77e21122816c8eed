"""OAuth: grants, client errors, the 10-token cap, the throttle block and expiry."""

from __future__ import annotations

from typing import Any

from simulator.oauth import THROTTLE_BODY
from tests.unit.simulator.conftest import Sim


async def _refresh(sim: Sim, form: bool = False, **override: str) -> tuple[int, Any]:
    params = {
        "grant_type": "refresh_token",
        "client_id": sim.creds["client_id"],
        "client_secret": sim.creds["client_secret"],
        "refresh_token": sim.creds["refresh_token"],
        **override,
    }
    if form:
        resp = await sim.client.post("/oauth/v2/token", data=params)
    else:
        resp = await sim.client.post("/oauth/v2/token", params=params)
    return resp.status, await resp.json()


async def _items_status(sim: Sim, token: str) -> tuple[int, Any]:
    status, body, _ = await sim.call("/items", {"per_page": "1"}, token=token)
    return status, body


async def test_refresh_grant_in_query_string(sim: Sim) -> None:
    status, body = await _refresh(sim)
    assert status == 200
    assert set(body) == {"access_token", "expires_in", "api_domain", "token_type", "scope"}
    assert body["expires_in"] == 3600
    assert body["token_type"] == "Bearer"
    assert body["api_domain"] == sim.base
    assert (await _items_status(sim, body["access_token"]))[0] == 200


async def test_refresh_grant_in_form_body(sim: Sim) -> None:
    status, body = await _refresh(sim, form=True)
    assert status == 200
    assert body["access_token"].startswith("1000.")


async def test_bad_client_and_bad_refresh_token_answer_http_200_with_error(sim: Sim) -> None:
    assert await _refresh(sim, client_id="nope") == (200, {"error": "invalid_client"})
    assert await _refresh(sim, client_secret="nope") == (200, {"error": "invalid_client"})
    assert await _refresh(sim, refresh_token="1000.x.y") == (200, {"error": "invalid_code"})
    stats = await sim.control("stats")
    assert stats["oauth"]["errors"] == {"invalid_client": 2, "invalid_code": 1}


async def test_eleventh_token_invalidates_the_oldest(sim: Sim) -> None:
    tokens = [(await _refresh(sim))[1]["access_token"] for _ in range(6)]
    await sim.control("clock", {"advance_s": 601})  # stay under 10 requests per 10 minutes
    tokens += [(await _refresh(sim))[1]["access_token"] for _ in range(5)]
    assert len(set(tokens)) == 11
    status, body = await _items_status(sim, tokens[0])
    assert (status, body) == (
        401,
        {"code": 57, "message": "You are not authorized to perform this operation"},
    )
    for token in tokens[1:]:
        assert (await _items_status(sim, token))[0] == 200


async def test_throttle_after_ten_requests_in_ten_minutes_then_clears(sim: Sim) -> None:
    for _ in range(10):
        assert (await _refresh(sim))[0] == 200
    status, body = await _refresh(sim)
    assert status == 400
    assert body == THROTTLE_BODY
    assert body["error_description"].startswith("You have made too many requests continuously")
    await sim.control("clock", {"advance_s": 14 * 60})
    assert (await _refresh(sim))[0] == 400  # the 15-minute block still holds
    await sim.control("clock", {"advance_s": 61})
    assert (await _refresh(sim))[0] == 200
    stats = await sim.control("stats")
    assert stats["oauth"]["token_throttles"] == 2
    assert stats["oauth"]["tokens_issued"] == 11


async def test_requests_spread_over_the_window_are_not_throttled(sim: Sim) -> None:
    for _ in range(15):
        assert (await _refresh(sim))[0] == 200
        await sim.control("clock", {"advance_s": 61})


async def test_expired_token_is_code_57(sim: Sim) -> None:
    token = (await _refresh(sim))[1]["access_token"]
    await sim.control("clock", {"advance_s": 3599})
    assert (await _items_status(sim, token))[0] == 200
    await sim.control("clock", {"advance_s": 2})
    status, body = await _items_status(sim, token)
    assert status == 401
    assert body["code"] == 57


async def test_forced_block_and_reset(sim: Sim) -> None:
    await sim.control("faults", {"force_token_block": True})
    assert (await _refresh(sim))[0] == 400
    await sim.control("faults", {"force_token_block": False})
    assert (await _refresh(sim))[0] == 200
    for _ in range(10):
        await _refresh(sim)
    assert (await _refresh(sim))[0] == 400
    await sim.control("reset", {"tokens": True, "limits": False})
    assert (await _refresh(sim))[0] == 200


async def test_authorization_code_grant_returns_a_usable_refresh_token(sim: Sim) -> None:
    params = {
        "grant_type": "authorization_code",
        "client_id": sim.creds["client_id"],
        "client_secret": sim.creds["client_secret"],
        "redirect_uri": "http://127.0.0.1/cb",
        "code": "1000.abc.def",
    }
    resp = await sim.client.post("/oauth/v2/token", params=params)
    body = await resp.json()
    assert resp.status == 200
    assert body["refresh_token"].startswith("1000.")
    assert (await _items_status(sim, body["access_token"]))[0] == 200
    again = await sim.client.post("/oauth/v2/token", params=params)
    assert await again.json() == {"error": "invalid_code"}  # codes are single-use
    status, refreshed = await _refresh(sim, refresh_token=body["refresh_token"])
    assert status == 200 and "access_token" in refreshed


async def test_revoked_refresh_token_is_invalid_code(sim: Sim) -> None:
    token = (await _refresh(sim))[1]["access_token"]
    resp = await sim.client.post(
        "/oauth/v2/token/revoke", params={"token": sim.creds["refresh_token"]}
    )
    assert resp.status == 200
    assert (await _items_status(sim, token))[0] == 401
    assert await _refresh(sim) == (200, {"error": "invalid_code"})


async def test_unknown_grant_type(sim: Sim) -> None:
    assert await _refresh(sim, grant_type="password") == (
        200,
        {"error": "unsupported_grant_type"},
    )


async def test_oauth_does_not_use_api_quota(sim: Sim) -> None:
    await sim.control("limits", {"per_minute": 2})
    tokens = [(await _refresh(sim))[1]["access_token"] for _ in range(5)]
    assert (await _items_status(sim, tokens[0]))[0] == 200
    assert (await _items_status(sim, tokens[1]))[0] == 200
    status, body = await _items_status(sim, tokens[2])
    assert (status, body["code"]) == (429, 44)
