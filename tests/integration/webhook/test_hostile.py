"""A hostile corpus gets the documented status, names the problem, and publishes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

import orjson
import pytest

from producers.webhook.app import WEBHOOK_PATH
from producers.webhook.auth import SIGNATURE_HEADER
from simulator.signing import sign
from tests.integration.webhook.conftest import SECRET, GatewayFactory, message_count

LIMIT = 4096
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
ITEM = b'{"item": {"item_id": "4815000000044208", "name": "Bags"}}'


@dataclass(frozen=True)
class Case:
    """One hostile request and the answer it must get."""

    name: str
    status: int
    detail: str
    body: bytes = ITEM
    content_type: str | None = JSON
    query: list[tuple[str, str]] = field(default_factory=list)
    raw_query: str | None = None  # sent as is (for bytes no encoder would produce)
    path: str = WEBHOOK_PATH
    signature: str | None = "good"  # good | a literal value | None (missing)
    form: bool = False
    method: str = "POST"

    def headers(self) -> dict[str, str]:
        headers = {} if self.content_type is None else {"Content-Type": self.content_type}
        if self.signature == "good":
            form = _form_pairs(self.body) if self.form else []
            headers[SIGNATURE_HEADER] = sign(SECRET, self.query, form, self.body)
        elif self.signature is not None:
            headers[SIGNATURE_HEADER] = self.signature
        return headers

    def url(self) -> str:
        query = self.raw_query if self.raw_query is not None else urlencode(self.query)
        return f"{self.path}?{query}" if query else self.path


def _form_pairs(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode(), keep_blank_values=True)


def _form(**fields: str) -> bytes:
    return urlencode(fields).encode()


CORPUS = [
    # authenticity
    Case("missing signature", 401, "missing X-Zoho-Webhook-Signature", signature=None),
    Case("empty signature", 401, "missing X-Zoho-Webhook-Signature", signature=""),
    Case("garbage signature", 401, "does not match", signature="not-hex-at-all"),
    Case("signature of another body", 401, "does not match",
         signature=sign(SECRET, [], [], b'{"item": {"item_id": "1"}}')),
    Case("signature with another secret", 401, "does not match",
         signature=sign("anotherSecret99", [], [], ITEM)),
    Case("query added after signing", 401, "does not match", query=[("action", "deleted")],
         signature=sign(SECRET, [], [], ITEM)),
    Case("form signed as a raw body", 401, "does not match", content_type=FORM,
         body=_form(JSONString='{"item": {"item_id": "1"}}'), form=True,
         signature=sign(SECRET, [], [], _form(JSONString='{"item": {"item_id": "1"}}'))),
    # malformed JSON and forms, invalid UTF-8
    Case("truncated JSON", 400, "body is not valid JSON", body=ITEM[:-3]),
    Case("JSON array", 400, "body is a JSON list", body=b"[1, 2]"),
    Case("JSON string", 400, "body is a JSON str", body=b'"item"'),
    Case("invalid UTF-8 in JSON", 400, "not valid JSON", body=b'{"item": {"item_id": "\xff"}}'),
    Case("NaN", 400, "not valid JSON", body=b'{"item": {"item_id": NaN}}'),
    Case("deep nesting", 400, "not valid JSON", body=b"[" * 2000 + b"]" * 2000),
    Case("empty body", 400, "cannot tell the entity type", body=b""),
    Case("form that is JSON", 400, "form body is malformed", content_type=FORM, body=ITEM,
         form=True, signature=sign(SECRET, [], [], ITEM)),
    Case("form JSONString not JSON", 400, "form field JSONString is not valid JSON",
         content_type=FORM, body=_form(JSONString="{oops"), form=True),
    Case("form invalid UTF-8", 400, "form body is not valid UTF-8", content_type=FORM,
         body=b"JSONString=\xff\xfe", form=False, signature=sign(SECRET, [], [], b"")),
    Case("form escaped invalid UTF-8", 400, "form body is malformed", content_type=FORM,
         body=b"JSONString=%ff%fe", signature=sign(SECRET, [], [], b"")),
    Case("query invalid UTF-8", 400, "query string is malformed", raw_query="entity=%ff"),
    Case("text invalid UTF-8", 400, "text body is not valid UTF-8", content_type="text/plain",
         body=b"\xffitem", query=[("entity", "item"), ("id", "5")]),
    # missing or wrong entity and id
    Case("no entity", 400, "cannot tell the entity type", body=b'{"name": "x", "id": "5"}'),
    Case("unknown entity key", 400, "cannot tell the entity type",
         body=b'{"spaceship": {"spaceship_id": "1"}}'),
    Case("unknown entity in query", 400, "unknown entity type 'spaceship'",
         query=[("entity", "spaceship")]),
    Case("unknown entity in path", 400, "unknown entity type 'spaceships'",
         path=f"{WEBHOOK_PATH}/spaceships"),
    Case("path and query disagree", 400, "the path names 'bills'", path=f"{WEBHOOK_PATH}/bills",
         query=[("entity", "item")]),
    Case("body and query disagree", 400, "body holds a item but the request names bill",
         query=[("entity", "bill")]),
    Case("several entities", 400, "body names several entities",
         body=b'{"item": {"item_id": "1"}, "bill": {"bill_id": "2"}}'),
    Case("no id", 400, "item has no usable item_id", body=b'{"item": {"name": "x"}}'),
    Case("id with a colon", 400, "no usable item_id", body=b'{"item": {"item_id": "1:2"}}'),
    Case("id too long", 400, "no usable item_id",
         body=b'{"item": {"item_id": "' + b"9" * 65 + b'"}}'),
    Case("id is an object", 400, "no usable item_id", body=b'{"item": {"item_id": {"$gt": 1}}}'),
    # content types
    Case("xml", 415, "'application/xml' is not supported", content_type="application/xml",
         body=b"<item><item_id>1</item_id></item>"),
    Case("multipart", 415, "'multipart/form-data' is not supported",
         content_type="multipart/form-data; boundary=x", body=b"--x--"),
    Case("html", 415, "'text/html' is not supported", content_type="text/html"),
    Case("latin-1", 415, "charset 'iso-8859-1' is not supported",
         content_type="application/json; charset=iso-8859-1"),
    # size
    Case("too large", 413, f"larger than the limit of {LIMIT} bytes",
         body=b'{"item": {"item_id": "1", "pad": "' + b"x" * LIMIT + b'"}}'),
]


@pytest.fixture
async def hostile(
    gateway_factory: GatewayFactory, topic_factory: Callable[..., str], kafka_bootstrap: str
) -> AsyncIterator[GatewayFactory]:
    """The gateway under attack; afterwards its topic must still be empty."""
    topic = topic_factory("webhook-hostile", partitions=1)

    def make(**env: str) -> object:
        return gateway_factory(topic, TDS_WEBHOOK_MAX_BODY_BYTES=str(LIMIT), **env)

    yield make  # type: ignore[misc]  # the factory keeps gateway_factory's signature
    assert await message_count(kafka_bootstrap, topic) == 0


async def test_the_corpus_is_refused(hostile: GatewayFactory) -> None:
    async with hostile() as gateway:
        for case in CORPUS:
            async with gateway.client.request(case.method, case.url(), data=case.body,
                                              headers=case.headers()) as resp:
                text = await resp.text()
                assert resp.status == case.status, (case.name, text)
                answer = orjson.loads(text)
                assert set(answer) == {"error", "detail"}, case.name
                assert case.detail in answer["detail"], (case.name, answer)
                assert SECRET not in text
        samples = gateway.metrics.registry.get_sample_value
        assert samples("tds_webhook_requests_total", {"status": "200"}) is None
        assert sum(samples("tds_webhook_requests_total", {"status": s}) or 0
                   for s in ("400", "401", "413", "415")) == len(CORPUS)


async def test_no_organization_anywhere(hostile: GatewayFactory) -> None:
    async with hostile(ZOHO_ORGANIZATION_ID="") as gateway:
        case = Case("no org", 400, "no organization id")
        resp = await gateway.client.post(case.url(), data=case.body, headers=case.headers())
        assert resp.status == 400 and "ZOHO_ORGANIZATION_ID" in (await resp.json())["detail"]


async def test_no_secret_configured_refuses_with_the_fix(hostile: GatewayFactory) -> None:
    async with hostile(ZOHO_WEBHOOK_SECRET="") as gateway:
        resp = await gateway.client.post(WEBHOOK_PATH, data=ITEM,
                                         headers={"Content-Type": JSON})
        assert resp.status == 401
        assert "TDS_WEBHOOK_ALLOW_UNSIGNED=true" in (await resp.json())["detail"]


async def test_oversize_chunked_body_stops_at_the_limit(hostile: GatewayFactory) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1024):  # up to 64 MiB, bounded
            sent += 64 * 1024
            yield b"x" * (64 * 1024)

    async with hostile() as gateway, gateway.client.post(
            WEBHOOK_PATH, data=chunks(), headers={"Content-Type": JSON}) as resp:
        assert resp.status == 413
        assert "larger than the limit" in (await resp.json())["detail"]
    assert sent < 1024 * 64 * 1024  # the server stopped reading: the upload never finished


async def test_oversize_declared_length_is_refused_before_reading(
    hostile: GatewayFactory,
) -> None:
    async with hostile() as gateway:
        server = gateway.client.server
        reader, writer = await asyncio.open_connection(server.host, server.port)
        try:
            writer.write(f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: {JSON}\r\n"
                         f"Content-Length: {50 * 1024 * 1024}\r\n\r\n{{".encode())
            await writer.drain()
            # One byte of 50 MiB is ever sent: an answer can only come from the declared
            # length. A server that waited for the body would never answer (the 5 s bound
            # only keeps such a failure from hanging the run).
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            body = await asyncio.wait_for(reader.readexactly(length), 5)
        finally:
            writer.close()
        assert head.startswith(b"HTTP/1.1 413"), head
        assert b"connection: close" in head.lower()
        assert b"larger than the limit of 4096 bytes" in body
