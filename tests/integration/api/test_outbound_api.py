"""POST/GET /api/tds/outbound against real PostgreSQL and Kafka: door checks, idempotency,
keyset paging, and nothing published when a request is refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer

from schemas.events import decode_event
from schemas.outbound import OutboundCommand
from tds.kafka import consumer_config
from tests.integration.api.conftest import TOKEN, ApiHarness

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _order(n: int, **extra: Any) -> dict[str, Any]:
    return {"command_id": f"cmd-{n}", "org_id": "42", "entity_type": "salesorder",
            "operation": "create", "erp_ref": f"SO-{n}",
            "fields": {"customer_id": "1", "line_items": [{"item_id": "2"}]}, **extra}


def _published(bootstrap: str, topic: str, group: str) -> list[OutboundCommand]:
    consumer = Consumer(consumer_config(bootstrap, group))
    consumer.subscribe([topic])
    out: list[OutboundCommand] = []
    idle = 0
    try:
        while idle < 6:  # bounded: 3 s without a message ends the read
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                idle += 1
                continue
            idle = 0
            event = decode_event(message.value() or b"")
            assert isinstance(event, OutboundCommand)
            out.append(event)
    finally:
        consumer.close()
    return out


async def test_submit_check_and_page(api: ApiHarness, kafka_bootstrap: str,
                                     group_factory: Callable[[str], str]) -> None:
    topic = api.ctx.outbound_topic
    client = api.client
    assert (await client.post("/api/tds/outbound", json=_order(1))).status == 401

    # One bad command refuses the whole request, naming it, and publishes nothing.
    bad = [_order(2), {**_order(3), "operation": "update"}]
    resp = await client.post("/api/tds/outbound", json=bad, headers=AUTH)
    assert resp.status == 400
    assert "commands[1].entity_id" in (await resp.json())["detail"]
    for wrong, field in (({"entity_type": "bill"}, "command.entity_type"),
                         ({"fields": [1]}, "command.fields"),
                         ({"operation": "approve"}, "command.operation")):
        resp = await client.post("/api/tds/outbound", json=_order(4, **wrong), headers=AUTH)
        assert resp.status == 400, wrong
        assert field in (await resp.json())["detail"]

    resp = await client.post("/api/tds/outbound", json=[_order(n) for n in range(5, 10)],
                             headers=AUTH)
    assert resp.status == 202
    answer = (await resp.json())["commands"]
    assert [a["command_id"] for a in answer] == [f"cmd-{n}" for n in range(5, 10)]
    assert answer[0]["status_url"] == "/api/tds/outbound/cmd-5"
    assert not any(a["existing"] for a in answer)

    # The same id and content: the existing command; other content under it: 400.
    again = await client.post("/api/tds/outbound", json=_order(5), headers=AUTH)
    assert again.status == 202 and (await again.json())["commands"][0]["existing"] is True
    changed = _order(5, erp_ref="SO-other")
    resp = await client.post("/api/tds/outbound", json=changed, headers=AUTH)
    assert resp.status == 400 and "command.command_id" in (await resp.json())["detail"]

    detail = await (await client.get("/api/tds/outbound/cmd-7", headers=AUTH)).json()
    assert detail["status"] == "accepted" and detail["command"]["erp_ref"] == "SO-7"
    assert (await client.get("/api/tds/outbound/nope", headers=AUTH)).status == 404

    seen: list[str] = []
    url = "/api/tds/outbound?limit=2&entity_type=salesorder"
    for _ in range(5):
        page = await (await client.get(url, headers=AUTH)).json()
        seen += [c["command_id"] for c in page["commands"]]
        if page["next"] is None:
            break
        url = f"/api/tds/outbound?limit=2&entity_type=salesorder&after={page['next']}"
    assert sorted(seen) == [f"cmd-{n}" for n in range(5, 10)]
    assert len(seen) == len(set(seen))
    resp = await client.get("/api/tds/outbound?status=nope", headers=AUTH)
    assert resp.status == 400

    published = _published(kafka_bootstrap, topic, group_factory("outbound-api"))
    # Five accepted, and cmd-5 again (the writer had not seen it: published once more).
    assert sorted(c.command_id for c in published) == sorted(
        [f"cmd-{n}" for n in range(5, 10)] + ["cmd-5"])

    status = await (await client.get("/api/tds/status", headers=AUTH)).json()
    assert status["outbound"]["commands"]["accepted"] == 5
    health = await (await client.get("/api/tds/health", headers=AUTH)).json()
    assert "5 write-back commands wait and no writer is running" in health["problems"]
