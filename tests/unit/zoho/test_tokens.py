"""The token provider with an in-memory store and a scripted token endpoint."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from producers.zoho.dc import resolve
from producers.zoho.errors import (
    ZohoBadResponse,
    ZohoConfigError,
    ZohoServerError,
    ZohoTokenError,
    ZohoTokenThrottled,
)
from producers.zoho.tokens import MemoryTokenStore, StoredToken, TokenProvider
from tds.metrics import Metrics
from tds.secret import Secret

T0 = datetime(2025, 11, 13, 10, 0, tzinfo=UTC)
THROTTLE = (400, orjson.dumps({"error_description": "You have made too many requests "
                               "continuously. Please try again after some time.",
                               "error": "Access Denied", "status": "failure"}))


class Endpoint:
    """Answers token requests from a script; counts them."""

    def __init__(self, *answers: tuple[int, bytes]) -> None:
        self.answers = list(answers)
        self.forms: list[dict[str, str]] = []
        self.issued = 0

    async def __call__(self, url: str, form: dict[str, str]) -> tuple[int, bytes]:
        assert url.endswith("/oauth/v2/token")
        self.forms.append(form)
        await asyncio.sleep(0)
        if self.answers:
            return self.answers.pop(0)
        self.issued += 1
        return 200, orjson.dumps({"access_token": f"tok{self.issued}", "expires_in": 3600,
                                  "api_domain": "https://www.zohoapis.eu",
                                  "token_type": "Bearer"})


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _provider(store: MemoryTokenStore, clock: Clock, *, api_base: str | None = None,
              metrics: Metrics | None = None) -> TokenProvider:
    return TokenProvider(client_id="cid", client_secret=Secret("sec"),
                         refresh_token=Secret("refresh"), endpoints=resolve("eu", api_base),
                         store=store, clock=clock, metrics=metrics)


async def test_cached_shared_and_refreshed_ahead_of_expiry() -> None:
    store, clock, endpoint = MemoryTokenStore(), Clock(), Endpoint()
    metrics = Metrics.create()
    a, b = _provider(store, clock, metrics=metrics), _provider(store, clock)
    tokens = await asyncio.gather(*(p.get(endpoint) for p in (a, b) for _ in range(5)))
    assert {t.access_token for t in tokens} == {"tok1"}
    assert endpoint.issued == 1
    assert tokens[0].api_domain == "https://www.zohoapis.eu"
    assert endpoint.forms[0] == {"grant_type": "refresh_token", "client_id": "cid",
                                 "client_secret": "sec", "refresh_token": "refresh"}
    clock.now = T0 + timedelta(minutes=54)
    assert (await a.get(endpoint)).access_token == "tok1"
    clock.now = T0 + timedelta(minutes=56)  # inside the 5-minute margin: refresh
    assert (await a.get(endpoint)).access_token == "tok2"
    assert (await b.get(endpoint)).access_token == "tok2"  # b finds it in the store
    assert endpoint.issued == 2
    assert metrics.zoho_token_refreshes.labels(outcome="ok")._value.get() == 2


async def test_a_refused_token_forces_one_refresh_for_everyone() -> None:
    store, clock, endpoint = MemoryTokenStore(), Clock(), Endpoint()
    a, b = _provider(store, clock), _provider(store, clock)
    old = await a.get(endpoint)
    await b.get(endpoint)
    new_a, new_b = await asyncio.gather(a.get(endpoint, reject=old.access_token),
                                        b.get(endpoint, reject=old.access_token))
    assert new_a.access_token == new_b.access_token == "tok2"
    assert endpoint.issued == 2


async def test_api_base_override_wins_over_api_domain() -> None:
    token = await _provider(MemoryTokenStore(), Clock(), api_base="http://127.0.0.1:1").get(
        Endpoint())
    assert token.api_domain == "http://127.0.0.1:1"


async def test_throttle_blocks_every_process_and_keeps_a_live_token() -> None:
    store, clock = MemoryTokenStore(), Clock()
    endpoint = Endpoint()
    a = _provider(store, clock)
    await a.get(endpoint)
    clock.now = T0 + timedelta(minutes=57)  # due for refresh, still valid for 3 minutes
    endpoint.answers.append(THROTTLE)
    kept = await a.get(endpoint)
    assert kept.access_token == "tok1"
    row = store.rows[a.key]
    assert row.blocked_until == clock.now + timedelta(seconds=60)  # the first probe wait
    b = _provider(store, clock)  # a new process: sees the block, does not ask
    assert (await b.get(endpoint)).access_token == "tok1"
    clock.now = T0 + timedelta(minutes=57, seconds=30)
    assert (await b.get(endpoint)).access_token == "tok1"
    assert len(endpoint.forms) == 2  # one success, one throttled: nobody asked again
    clock.now = T0 + timedelta(minutes=61)  # expired; the block ended: one probe, refused
    endpoint.answers.append(THROTTLE)
    with pytest.raises(ZohoTokenThrottled) as info:
        await b.get(endpoint)
    assert info.value.retriable and info.value.retry_after_s == pytest.approx(60)
    assert len(endpoint.forms) == 3
    clock.now = T0 + timedelta(minutes=62, seconds=1)  # b's own second refusal: 120 s
    endpoint.answers.append(THROTTLE)
    with pytest.raises(ZohoTokenThrottled) as info:
        await b.get(endpoint)
    assert info.value.retry_after_s == pytest.approx(120)
    clock.now = T0 + timedelta(minutes=64, seconds=2)
    assert (await b.get(endpoint)).access_token == "tok2"
    assert len(endpoint.forms) == 5


async def test_throttle_probes_double_up_to_the_block_and_reset_on_success() -> None:
    store, clock = MemoryTokenStore(), Clock()
    provider = TokenProvider(client_id="cid", client_secret=Secret("sec"),
                             refresh_token=Secret("refresh"), endpoints=resolve("eu", None),
                             store=store, clock=clock, throttle_probe_s=60,
                             throttle_block_s=300)
    endpoint = Endpoint(*[THROTTLE] * 5)
    waits = []
    for _ in range(5):
        with pytest.raises(ZohoTokenThrottled) as info:
            await provider.get(endpoint)
        waits.append(info.value.retry_after_s)
        clock.now += timedelta(seconds=info.value.retry_after_s or 0)
    assert waits == [60, 120, 240, 300, 300]
    assert (await provider.get(endpoint)).access_token == "tok1"
    clock.now += timedelta(hours=2)
    endpoint.answers.append(THROTTLE)
    with pytest.raises(ZohoTokenThrottled) as info:
        await provider.get(endpoint)
    assert info.value.retry_after_s == pytest.approx(60)


async def test_throttle_without_any_token_raises() -> None:
    store, clock = MemoryTokenStore(), Clock()
    with pytest.raises(ZohoTokenThrottled):
        await _provider(store, clock).get(Endpoint(THROTTLE))
    assert store.rows[_provider(store, clock).key].access_token == ""


@pytest.mark.parametrize(("answer", "error"), [
    ((200, b'{"error":"invalid_client"}'), ZohoTokenError),
    ((200, b'{"error":"invalid_code"}'), ZohoTokenError),
    ((500, b"<html>"), ZohoServerError),
    ((503, b'{"error":"down"}'), ZohoServerError),
    ((200, b"<html>"), ZohoBadResponse),
])
async def test_token_endpoint_errors(answer: tuple[int, bytes], error: type[Exception]) -> None:
    with pytest.raises(error):
        await _provider(MemoryTokenStore(), Clock()).get(Endpoint(answer))


def test_missing_credentials() -> None:
    with pytest.raises(ZohoConfigError):
        TokenProvider(client_id=None, client_secret=Secret(""), refresh_token=Secret(""),
                      endpoints=resolve("com"), store=MemoryTokenStore())


def test_the_token_never_shows_in_repr() -> None:
    assert "secret-value" not in repr(StoredToken("secret-value", "https://x", T0))
