"""Every body format and every entity type, built and signed by the simulator, lands in
Kafka with the right key, CloudEvents headers and the body byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from urllib.parse import parse_qsl, urlsplit

from producers.webhook.app import WEBHOOK_PATH
from schemas.cloudevents import header_map, parse_ce
from schemas.events import RawEvent, decode_event
from schemas.topics import entity_key
from schemas.zoho_payload import canonical_entity
from simulator.config import HOOK_ENTITIES, WebhookConfig, WebhookFormat, WebhookRule
from simulator.entities import ENTITIES, HOOK_TO_PATH
from simulator.hookformat import HookEvent, Outgoing, build_request
from tests.integration.webhook.conftest import (
    ORG,
    SECRET,
    GatewayFactory,
    consume,
    message_count,
)

_seq = count(1)
# (format, action, method, rule_query, path entity, event kind): every format with every
# entity, the three verbs, the entity named by the query, the body's key, a raw literal or
# the path; with no action anywhere (no query, full snapshot) the kind is "unknown".
_SHAPES: list[Shape] = [
    ("json", "edited", "POST", True, False, "edited"),
    ("form", "created", "PUT", True, False, "created"),
    ("raw", "deleted", "DELETE", False, False, "deleted"),
    ("json", "created", "POST", False, True, "unknown"),
]
Shape = tuple[WebhookFormat, str, str, bool, bool, str]


def _request(base: str, entity: str, shape: Shape) -> Outgoing:
    fmt, action, method, rule_query, by_path, _ = shape
    spec = ENTITIES[HOOK_TO_PATH[entity]]
    record_id = str(4_600_000_000_000_000 + next(_seq))
    snapshot = {spec.id_field: record_id, "last_modified_time": "2025-11-13T10:30:00+0300",
                "name": "Bägs – small ✓", "total": 12.5}
    url = f"{base}/{spec.path}" if by_path else base
    config = WebhookConfig(url=url, secret=SECRET, format=fmt, method=method,
                           rule_query=rule_query, include_snapshot_on_delete=False)
    event = HookEvent(entity, action, record_id, snapshot, change_seq=next(_seq))
    return build_request(config, WebhookRule(entity, action), event, url)


async def test_every_format_and_entity_lands_byte_for_byte(
    gateway_factory: GatewayFactory, topic_factory: Callable[..., str], kafka_bootstrap: str
) -> None:
    topic = topic_factory("webhook-formats", partitions=3)
    async with gateway_factory(topic) as gateway:
        base = gateway.url(WEBHOOK_PATH)
        sent: dict[str, tuple[Outgoing, str]] = {}
        for entity in HOOK_ENTITIES:
            for shape in _SHAPES:
                request = _request(base, entity, shape)
                async with gateway.client.session.request(
                        request.method, request.url, data=request.body,
                        headers=list(request.headers)) as resp:
                    answer = await resp.json()
                    assert resp.status == 200, (request, answer)
                sent[answer["event_id"]] = (request, shape[-1])
    messages = await consume(kafka_bootstrap, topic, len(sent))
    assert len(messages) == len(sent) == len(HOOK_ENTITIES) * len(_SHAPES)
    assert await message_count(kafka_bootstrap, topic) == len(sent)
    for message in messages:
        ce = parse_ce(message.headers())
        request, kind = sent[ce.id]
        value = message.value()
        assert value is not None
        event = decode_event(value)
        assert isinstance(event, RawEvent)
        canonical = canonical_entity(request.entity)
        assert canonical is not None
        assert message.key() == entity_key(ORG, canonical, request.record_id)
        assert (ce.type, ce.source, ce.subject) == (
            "zoho.webhook.received", "/tds/web", f"{canonical}/{request.record_id}")
        assert header_map(message.headers())["ce_specversion"] == b"1.0"
        assert event.body == request.body  # byte for byte
        assert event.content_type == dict(request.headers)["Content-Type"]
        assert (event.event_id, event.source, event.org_id, event.entity_type,
                event.entity_id) == (ce.id, "webhook", ORG, canonical, request.record_id)
        assert event.signature_verified
        query = dict(parse_qsl(urlsplit(request.url).query))
        assert {k: event.attributes[k] for k in query} == query
        assert event.attributes["method"] == request.method
        assert event.event_kind == kind
