"""The handler against a stub publisher: what it publishes, and every refusal's status."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from urllib.parse import urlencode

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from confluent_kafka import KafkaError

from producers.webhook.app import WEBHOOK_PATH, add_routes
from producers.webhook.auth import SIGNATURE_HEADER
from schemas.cloudevents import header_map, parse_ce
from schemas.events import RawEvent, decode_event
from schemas.topics import entity_key
from simulator.signing import sign
from tds.kafka_publisher import PublishError, QueueFullError
from tds.metrics import Metrics
from tds.settings import Settings
from tests.unit.webhook.stubs import StubPublisher

SECRET = "unitTestSecret123"
ORG = "20077551234"
JSON = "application/json;charset=UTF-8"
Gateway = Callable[..., AbstractAsyncContextManager[TestClient[web.Request, web.Application]]]


@pytest.fixture
def gateway() -> Gateway:
    @asynccontextmanager
    async def make(
        publisher: StubPublisher, metrics: Metrics | None = None, **env: str
    ) -> AsyncIterator[TestClient[web.Request, web.Application]]:
        app = web.Application()
        add_routes(app, settings=Settings.from_env(env), publisher=publisher,
                   metrics=metrics or Metrics.create(), topic="raw")
        async with TestClient(TestServer(app)) as client:
            yield client

    return make


def _signed(query: list[tuple[str, str]], body: bytes,
            form: list[tuple[str, str]] | None = None) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(SECRET, query, form or [], body)}


async def test_a_signed_webhook_is_published_as_a_raw_event(gateway: Gateway) -> None:
    stub, metrics = StubPublisher(), Metrics.create()
    body = b'{"item": {"item_id": "4815", "name": "Bags"}}'
    query = [("action", "edited"), ("x", "a b")]
    async with gateway(stub, metrics, ZOHO_WEBHOOK_SECRET=SECRET,
                       ZOHO_ORGANIZATION_ID=ORG) as client:
        resp = await client.put(f"{WEBHOOK_PATH}/items?{urlencode(query)}", data=body,
                                headers={"Content-Type": JSON, **_signed(query, body)})
        answer = await resp.json()
    assert resp.status == 200, answer
    [sent] = stub.published
    assert sent.topic == "raw" and sent.key == entity_key(ORG, "item", "4815")
    event = decode_event(sent.value)
    assert isinstance(event, RawEvent)
    assert (event.source, event.org_id, event.entity_type, event.entity_id, event.event_kind) == (
        "webhook", ORG, "item", "4815", "edited")
    assert event.body == body and event.content_type == JSON and event.signature_verified
    assert event.attributes == {"action": "edited", "x": "a b", "method": "PUT",
                                "path_entity": "items"}
    ce = parse_ce(sent.headers)
    assert (ce.id, ce.type, ce.source, ce.subject) == (
        event.event_id, "zoho.webhook.received", "/tds/web", "item/4815")
    assert header_map(sent.headers)["content-type"] == b"application/avro"
    assert answer == {"status": "ok", "event_id": event.event_id, "entity_type": "item",
                      "entity_id": "4815", "event_kind": "edited", "partition": 0, "offset": 0}
    assert metrics.registry.get_sample_value("tds_webhook_requests_total",
                                             {"status": "200"}) == 1
    assert metrics.registry.get_sample_value("tds_webhook_request_duration_seconds_count") == 1


async def test_the_probe_answers_and_publishes_nothing(gateway: Gateway) -> None:
    stub = StubPublisher()
    async with gateway(stub, ZOHO_WEBHOOK_SECRET=SECRET) as client:
        resp = await client.post(WEBHOOK_PATH, json={"test": True})
        assert resp.status == 200
        assert await resp.json() == {"status": "ok",
                                     "message": "webhook endpoint works; nothing was published"}
    assert stub.published == []


@pytest.mark.parametrize(("body", "method", "query", "kind"), [
    (b'{"bill": {"bill_id": "7"}}', "POST", "", "ping"),
    (b'{"bill": {"bill_id": "7"}}', "DELETE", "", "deleted"),
    (b'{"bill": {"bill_id": "7", "total": 1}}', "POST", "", "unknown"),
    (b'{"bill": {"bill_id": "7", "total": 1}}', "POST", "event=bill_created", "created"),
    (b'{"entity":"bill","action":"edited","id":"7"}', "POST", "", "ping"),
])
async def test_event_kind(gateway: Gateway, body: bytes, method: str, query: str,
                          kind: str) -> None:
    stub = StubPublisher()
    async with gateway(stub, TDS_WEBHOOK_ALLOW_UNSIGNED="true",
                       ZOHO_ORGANIZATION_ID=ORG) as client:
        resp = await client.request(method, f"{WEBHOOK_PATH}?{query}", data=body,
                                    headers={"Content-Type": "application/json"})
        assert resp.status == 200, await resp.text()
    event = decode_event(stub.published[0].value)
    assert isinstance(event, RawEvent)
    assert event.event_kind == kind and not event.signature_verified


async def test_form_bodies_sign_their_pairs(gateway: Gateway) -> None:
    stub = StubPublisher()
    form = [("JSONString", '{"salesorder": {"salesorder_id": "9"}}')]
    body = urlencode(form).encode()
    async with gateway(stub, ZOHO_WEBHOOK_SECRET=SECRET, ZOHO_ORGANIZATION_ID=ORG) as client:
        resp = await client.post(WEBHOOK_PATH, data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", **_signed([], body, form)})
        assert resp.status == 200, await resp.text()
        resp = await client.post(WEBHOOK_PATH, data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", **_signed([], body)})
        assert resp.status == 401  # signed as if raw: the body must not be appended
    assert len(stub.published) == 1


async def test_the_query_secret_is_checked_and_never_stored(gateway: Gateway) -> None:
    stub = StubPublisher()
    async with gateway(stub, ZOHO_WEBHOOK_SECRET=SECRET, ZOHO_WEBHOOK_AUTH="query",
                       ZOHO_ORGANIZATION_ID=ORG) as client:
        url = f"{WEBHOOK_PATH}?secret={SECRET}&entity=item"
        resp = await client.post(url, data=b'{"item_id": "1"}', headers={"Content-Type": JSON})
        assert resp.status == 200, await resp.text()
        resp = await client.post(f"{WEBHOOK_PATH}?secret=wrong", data=b'{"item_id": "1"}')
        assert resp.status == 401 and SECRET not in await resp.text()
    event = decode_event(stub.published[0].value)
    assert isinstance(event, RawEvent)
    assert "secret" not in event.attributes and SECRET.encode() not in stub.published[0].value


@pytest.mark.parametrize(("query", "body", "org"), [
    ("organization_id=123", b'{"item": {"item_id": "1"}}', "123"),
    ("", b'{"item": {"item_id": "1", "organization_id": 456}}', "456"),
])
async def test_the_org_comes_from_the_request_when_not_configured(
    gateway: Gateway, query: str, body: bytes, org: str
) -> None:
    stub = StubPublisher()
    async with gateway(stub, TDS_WEBHOOK_ALLOW_UNSIGNED="1") as client:
        resp = await client.post(f"{WEBHOOK_PATH}?{query}", data=body)
        assert resp.status == 200, await resp.text()
    assert stub.published[0].key == entity_key(org, "item", "1")


@pytest.mark.parametrize(("env", "path", "body", "headers", "status", "detail"), [
    ({}, WEBHOOK_PATH, b'{"item": {"item_id": "1"}}', {}, 401, "set ZOHO_WEBHOOK_SECRET"),
    ({"ZOHO_WEBHOOK_SECRET": SECRET}, WEBHOOK_PATH, b'{"item": {"item_id": "1"}}', {}, 401,
     "missing X-Zoho-Webhook-Signature"),
    ({"TDS_WEBHOOK_ALLOW_UNSIGNED": "1"}, WEBHOOK_PATH, b'{"item": {"item_id": "1"}}', {}, 400,
     "no organization id: set ZOHO_ORGANIZATION_ID"),
    ({"TDS_WEBHOOK_ALLOW_UNSIGNED": "1"}, WEBHOOK_PATH + "?organization_id=1:2",
     b'{"item": {"item_id": "1"}}', {}, 400, "is not a Zoho organization id"),
    ({"TDS_WEBHOOK_ALLOW_UNSIGNED": "1"}, WEBHOOK_PATH + "/bills?entity=item",
     b'{"item": {"item_id": "1"}}', {}, 400, "the path names 'bills' but the `entity`"),
    ({"TDS_WEBHOOK_ALLOW_UNSIGNED": "1"}, WEBHOOK_PATH, b"{oops", {}, 400,
     "body is not valid JSON"),
    ({"TDS_WEBHOOK_ALLOW_UNSIGNED": "1"}, WEBHOOK_PATH, b"<xml/>",
     {"Content-Type": "application/xml"}, 415, "'application/xml' is not supported"),
    ({"TDS_WEBHOOK_ALLOW_UNSIGNED": "1"}, WEBHOOK_PATH, b"x" * 1025, {}, 413,
     "larger than the limit of 1024 bytes"),
])
async def test_refusals(gateway: Gateway, env: dict[str, str], path: str, body: bytes,
                        headers: dict[str, str], status: int, detail: str) -> None:
    stub = StubPublisher()
    async with gateway(stub, TDS_WEBHOOK_MAX_BODY_BYTES="1024", **env) as client:
        resp = await client.post(path, data=body, headers=headers)
        answer = orjson.loads(await resp.read())
    assert resp.status == status and detail in answer["detail"], answer
    assert set(answer) == {"error", "detail"} and stub.published == []


@pytest.mark.parametrize(("failure", "status", "detail"), [
    (QueueFullError("queue full", topic="raw"), 503, "Kafka cannot take the event now"),
    (PublishError("Local: Message timed out", topic="raw", code="_MSG_TIMED_OUT"), 503,
     "Kafka did not acknowledge the event"),
    (PublishError("too big", topic="raw", code=KafkaError(KafkaError.MSG_SIZE_TOO_LARGE).name(),
                  retriable=False), 413, "Kafka refused the event as too large"),
    (RuntimeError("bug"), 500, "unexpected error"),
])
async def test_kafka_failures(gateway: Gateway, failure: Exception, status: int,
                              detail: str) -> None:
    stub = StubPublisher(fail=failure)
    async with gateway(stub, TDS_WEBHOOK_ALLOW_UNSIGNED="1", ZOHO_ORGANIZATION_ID=ORG) as client:
        resp = await client.post(WEBHOOK_PATH, data=b'{"item": {"item_id": "1"}}')
        answer = await resp.json()
    assert resp.status == status and detail in answer["detail"]
    if status == 503:
        assert resp.headers["Retry-After"] == "5"
