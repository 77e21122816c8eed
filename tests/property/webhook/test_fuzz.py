"""Fuzz the webhook endpoint: every answer is a documented status with a documented body,
and only valid, authentic webhooks are published, exactly once, byte for byte.

The default run makes 10,000 requests (the issue's floor); `TDS_FUZZ_EXAMPLES=N` changes it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from producers.webhook.app import WEBHOOK_PATH, add_routes
from producers.webhook.auth import SIGNATURE_HEADER
from producers.webhook.receiver import PROBE_ANSWER
from schemas.cloudevents import parse_ce
from schemas.events import RawEvent, decode_event
from schemas.topics import entity_key
from schemas.zoho_payload import ID_FIELDS, PayloadError, parse_payload
from simulator.signing import sign
from tds.kafka_publisher import PublishError, QueueFullError
from tds.metrics import Metrics
from tds.settings import Settings
from tests.unit.webhook.stubs import StubPublisher

SECRET = "fuzzSecretValue77"
ORG = "20077551234"
LIMIT = 1024
EXAMPLES = int(os.environ.get("TDS_FUZZ_EXAMPLES", "10000"))
DOCUMENTED = {200, 400, 401, 413, 415, 503}
FORM = "application/x-www-form-urlencoded"

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=16)
_names = st.sampled_from([*ID_FIELDS, "items", "sales_orders", "payment", "customers",
                          "warehouse", "Vendor-Payments", "spaceship", ""])
_valid_ids = st.from_regex(r"[0-9]{1,19}", fullmatch=True)
_ids = st.one_of(_valid_ids, _valid_ids, _valid_ids, _text, st.integers(-(2**63), 2**63 - 1),
                 st.none(), st.booleans())
_actions = st.sampled_from(["created", "edited", "deleted", "update", "bogus", ""])
_json = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                     | st.floats(allow_nan=False) | _text,
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_text, inner, max_size=3), max_leaves=8)


@dataclass(frozen=True)
class Webhook:
    """One generated request."""

    method: str
    path_entity: str | None
    query: list[tuple[str, str]]
    content_type: str | None
    body: bytes
    signature: str  # good | upper | bad | missing
    failure: str  # none | queue_full | timeout
    chunked: bool
    org_configured: bool
    expect: int | None = None  # the status a well-formed case must get; None: any documented

    def form(self) -> list[tuple[str, str]]:
        if (self.content_type or "").split(";")[0].strip().lower() != FORM:
            return []
        try:
            return parse_qsl(self.body.decode(), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return []

    def headers(self) -> dict[str, str]:
        headers = {} if self.content_type is None else {"Content-Type": self.content_type}
        good = sign(SECRET, self.query, self.form(), self.body)
        if self.signature == "good":
            headers[SIGNATURE_HEADER] = good
        elif self.signature == "upper":
            headers[SIGNATURE_HEADER] = good.upper()
        elif self.signature == "bad":
            headers[SIGNATURE_HEADER] = good[:-1] + ("0" if good[-1] != "0" else "1")
        return headers


@st.composite
def _documents(draw: st.DrawFn) -> Any:
    shape = draw(st.sampled_from(["default", "default", "template", "flat", "any"]))
    name = draw(st.one_of(st.sampled_from(list(ID_FIELDS)), _names))
    record_id = draw(_ids)
    id_field = ID_FIELDS.get(name, "item_id")
    extra = draw(st.dictionaries(st.sampled_from(["name", "total", "organization_id",
                                                  "last_modified_time"]),
                                 _json, max_size=2))
    if shape == "default":
        return {name: {id_field: record_id, **extra}}
    if shape == "template":
        return {"entity": name, "action": draw(_actions), "id": record_id}
    if shape == "flat":
        return {id_field: record_id, **extra}
    return draw(_json)


@st.composite
def _valid_webhooks(draw: st.DrawFn) -> Webhook:
    """A webhook Zoho could send, with at most one flaw whose status is known."""
    entity = draw(st.sampled_from(list(ID_FIELDS)))
    record_id = draw(_valid_ids)
    record = {ID_FIELDS[entity]: record_id,
              **draw(st.dictionaries(st.sampled_from(["name", "total"]), _json, max_size=2))}
    shape = draw(st.sampled_from(["json", "form", "template", "flat", "text"]))
    query: list[tuple[str, str]] = []
    path_entity = None
    content_type = draw(st.sampled_from(["application/json", "application/json;charset=UTF-8",
                                         "application/vnd.zoho+json", None]))
    if shape == "json":
        body = orjson.dumps({entity: record}, option=orjson.OPT_NON_STR_KEYS)
    elif shape == "form":
        text = orjson.dumps({entity: record}, option=orjson.OPT_NON_STR_KEYS).decode()
        body, content_type = urlencode({"JSONString": text}).encode(), FORM
    elif shape == "template":
        body = orjson.dumps({"entity": entity, "action": draw(_actions), "id": record_id})
    elif shape == "flat":
        body = orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS)
        if draw(st.booleans()):
            path_entity = entity
        else:
            query.append(("entity", entity))
    else:
        body, content_type = draw(_text).encode(), "text/plain"
        query += [("entity", entity), ("id", record_id)]
    if draw(st.booleans()):
        query.append(("action", draw(_actions)))
    org_configured = draw(st.booleans())
    if not org_configured:
        query.append(("organization_id", draw(st.from_regex(r"[0-9]{1,19}", fullmatch=True))))
    failure = draw(st.sampled_from(["none"] * 4 + ["queue_full", "timeout"]))
    flaw = draw(st.sampled_from(["none"] * 4 + ["signature", "type", "size", "truncate",
                                                "conflict", "org"]))
    signature = "good"
    expect: int | None = 503 if failure != "none" else 200
    if shape == "text" and body.strip().startswith(b"{"):
        expect = None  # text that happens to be a JSON object is read as one
    if flaw == "signature":
        signature, expect = draw(st.sampled_from(["bad", "missing"])), 401
    elif flaw == "type":
        content_type, expect = "application/xml", 415
    elif flaw == "size":
        body, expect = body + b" " * (LIMIT + 1 - len(body) + draw(st.integers(0, 64))), 413
    elif flaw == "truncate" and shape in ("json", "template", "flat"):
        body, expect = body[:draw(st.integers(0, len(body) - 1))], 400
    elif flaw == "conflict":
        other = draw(st.sampled_from([e for e in ID_FIELDS if e != entity]))
        path_entity, expect = other, 400
        if ("entity", entity) not in query and shape in ("flat", "text"):
            query.append(("entity", entity))
    elif flaw == "org" and not org_configured:
        query, expect = [(k, v) for k, v in query if k != "organization_id"], 400
    if flaw == "type":
        expect = 415  # checked first
    elif len(body) > LIMIT:
        expect = 413  # then the size, before anything else is read
    return Webhook(
        method=draw(st.sampled_from(["POST", "PUT", "DELETE"])), path_entity=path_entity,
        query=query, content_type=content_type, body=body, signature=signature,
        failure=failure, chunked=draw(st.booleans()), org_configured=org_configured,
        expect=expect)


@st.composite
def _random_webhooks(draw: st.DrawFn) -> Webhook:
    """Anything: junk bodies, types, queries and paths."""
    kind = draw(st.sampled_from(["json"] * 4 + ["form"] * 2 + ["form_fields", "text", "probe",
                                                               "bytes"]))
    document = draw(_documents())
    if kind == "probe":
        body, natural = b'{"test": true}', "application/json"
    elif kind == "form":
        text = orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS).decode()
        body, natural = urlencode({"JSONString": text}).encode(), FORM
    elif kind == "form_fields":
        pairs = draw(st.lists(st.tuples(_text, _text), max_size=4))
        body, natural = urlencode(pairs).encode(), FORM
    elif kind == "text":
        body, natural = draw(_text).encode(), "text/plain"
    elif kind == "bytes":
        body, natural = draw(st.binary(max_size=64)), "application/json"
    else:
        body = orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)
        natural = "application/json;charset=UTF-8"
    mutation = draw(st.sampled_from(["none"] * 12 + ["truncate", "flip", "pad", "huge"]))
    if mutation == "truncate" and body:
        body = body[:draw(st.integers(0, len(body) - 1))]
    elif mutation == "flip" and body:
        at = draw(st.integers(0, len(body) - 1))
        body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1:]
    elif mutation == "pad":
        body = body + b" " * (LIMIT - len(body) + draw(st.integers(-2, 2)))
    elif mutation == "huge":
        body = body + b" " * (LIMIT * 3)
    content_type = draw(st.one_of(
        st.just(natural), st.just(natural), st.just(natural),
        st.sampled_from([None, "", "application/json", FORM, "text/plain",
                         "application/octet-stream", "application/xml", "text/html",
                         "multipart/form-data; boundary=x", "application/json; charset=latin-1",
                         "application/vnd.zoho+json"]),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)))
    query = draw(st.one_of(st.just([]), st.lists(st.tuples(
        st.sampled_from(["entity", "action", "event", "id", "organization_id", "x"]),
        st.one_of(_names, _actions, st.from_regex(r"[0-9]{1,12}", fullmatch=True), _text)),
        max_size=3)))
    if draw(st.booleans()):
        query.append(("organization_id", draw(st.one_of(
            st.from_regex(r"[0-9]{1,19}", fullmatch=True), _text))))
    return Webhook(
        method=draw(st.sampled_from(["POST", "PUT", "DELETE"])),
        path_entity=draw(st.one_of(st.none(), st.none(), _names.filter(bool))),
        query=query, content_type=content_type, body=body,
        signature=draw(st.sampled_from(["good"] * 6 + ["upper", "bad", "missing"])),
        failure=draw(st.sampled_from(["none"] * 18 + ["queue_full", "timeout"])),
        chunked=draw(st.booleans()),
        org_configured=draw(st.booleans()),
    )


webhooks = st.one_of(_valid_webhooks(), _random_webhooks())
Clients = dict[bool, TestClient[web.Request, web.Application]]


@pytest.fixture
async def fuzz_clients() -> AsyncIterator[tuple[Clients, StubPublisher]]:
    """Two gateways on one stub: with ZOHO_ORGANIZATION_ID set (True) and without."""
    stub = StubPublisher()
    clients: Clients = {}
    for configured in (True, False):
        app = web.Application()
        env = {"ZOHO_WEBHOOK_SECRET": SECRET, "TDS_WEBHOOK_MAX_BODY_BYTES": str(LIMIT),
               "ZOHO_ORGANIZATION_ID": ORG if configured else ""}
        add_routes(app, settings=Settings.from_env(env), publisher=stub,
                   metrics=Metrics.create(), topic="raw")
        clients[configured] = TestClient(TestServer(app))
        await clients[configured].start_server()
    try:
        yield clients, stub
    finally:
        for client in clients.values():
            await client.close()


_FAILURES: dict[str, Exception] = {
    "queue_full": QueueFullError("queue full", topic="raw"),
    "timeout": PublishError("Local: Message timed out", topic="raw", code="_MSG_TIMED_OUT"),
}


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 512):
        yield body[start:start + 512]


@settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(hook=webhooks)
async def test_every_answer_is_documented_and_only_valid_webhooks_publish(
    fuzz_clients: tuple[Clients, StubPublisher], hook: Webhook
) -> None:
    clients, stub = fuzz_clients
    client = clients[hook.org_configured]
    stub.fail = _FAILURES.get(hook.failure)
    before = len(stub.published)
    path = WEBHOOK_PATH if hook.path_entity is None else f"{WEBHOOK_PATH}/{hook.path_entity}"
    url = f"{path}?{urlencode(hook.query)}" if hook.query else path
    data: Any = _chunks(hook.body) if hook.chunked else hook.body
    async with client.request(hook.method, url, data=data, headers=hook.headers(),
                              skip_auto_headers=["Content-Type"]) as resp:
        status, raw = resp.status, await resp.read()
    new = stub.published[before:]
    assert status in DOCUMENTED, (status, raw)
    if hook.expect is not None:
        assert status == hook.expect, (status, raw)
    assert SECRET.encode() not in raw
    answer = orjson.loads(raw)
    event(f"{status} {'published' if new else answer.get('error', 'probe')}")
    if status != 200 or answer == PROBE_ANSWER:
        assert new == [], "a refused webhook or the probe published something"
        if status != 200:
            assert set(answer) == {"error", "detail"} and answer["detail"]
        return
    # Accepted: authentic, within the limit, readable, published exactly once.
    assert hook.signature in ("good", "upper") and hook.failure == "none"
    assert len(hook.body) <= LIMIT and len(new) == 1
    [message] = new
    raw_event = decode_event(message.value)
    assert isinstance(raw_event, RawEvent) and raw_event.signature_verified
    assert raw_event.body == hook.body and raw_event.content_type == (hook.content_type or "")
    assert raw_event.entity_id is not None
    assert message.key == entity_key(raw_event.org_id, raw_event.entity_type,
                                     raw_event.entity_id)
    assert raw_event.org_id.isdigit() and parse_ce(message.headers).id == raw_event.event_id
    assert raw_event.org_id == ORG or not hook.org_configured
    assert raw_event.attributes["method"] == hook.method
    try:
        oracle = parse_payload(hook.body, raw_event.content_type, raw_event.attributes)
    except PayloadError as exc:
        raise AssertionError(f"published a body the reader refuses: {exc}") from None
    assert (oracle.entity_type, oracle.entity_id) == (raw_event.entity_type,
                                                      raw_event.entity_id)
    assert answer["event_id"] == raw_event.event_id
