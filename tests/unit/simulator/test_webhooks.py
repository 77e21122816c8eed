"""Webhook delivery to a live receiver: formats, signature, rules, faults and retries."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from simulator.config import WebhookConfig
from tests.support.waits import until
from tests.unit.simulator.conftest import Receiver, Sim, SimFactory, small_config

SECRET = "s3cretKey0123456789"
FAST = {"retry_schedule_s": [0.05, 0.1], "max_attempts": 3, "timeout_s": 2}


def _expected_signature(
    query: list[tuple[str, str]], form: list[tuple[str, str]], body: bytes
) -> str:
    """Recompute the signature independently of simulator.signing."""
    message = b""
    for key, value in sorted(query + form):
        message += key.encode("utf-8") + value.encode("utf-8")
    if not form:
        message += body
    return hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()


async def _setup(sim: Sim, receiver: Receiver, **settings: Any) -> None:
    await sim.control("webhooks", {"url": receiver.url, **FAST, **settings})


async def _change(
    sim: Sim, entity: str, action: str, record_id: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"entity": entity, "action": action, "webhook": True}
    if record_id:
        spec["id"] = record_id
    body = await sim.control("changes", {"apply": [spec]})
    change = body["applied"][0]
    assert isinstance(change, dict)
    return change


async def _drain(sim: Sim) -> dict[str, Any]:
    body = await sim.control("webhooks/drain", {"timeout_s": 5})
    assert body["drained"], body
    assert isinstance(body, dict)
    return body


async def test_default_json_payload_query_and_signature(sim: Sim, receiver: Receiver) -> None:
    await _setup(sim, receiver, secret=SECRET, headers={"X-Custom-Auth": "abc"})
    item_id = next(iter(sim.state.store.table("items").records))
    change = await _change(sim, "items", "edited", item_id)
    await _drain(sim)
    (req,) = receiver.requests
    assert req.method == "POST"
    assert req.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert req.headers["X-Custom-Auth"] == "abc"
    assert req.query == [("entity", "item"), ("action", "edited")]
    payload = json.loads(req.body)
    _, get, _ = await sim.call(f"/items/{item_id}")
    assert payload == {"item": get["item"]}
    assert payload["item"]["last_modified_time"] == change["last_modified_time"]
    signature = req.headers["X-Zoho-Webhook-Signature"]
    assert signature == _expected_signature(req.query, [], req.body)
    assert signature == signature.lower() and len(signature) == 64


async def test_form_payload_is_jsonstring(sim: Sim, receiver: Receiver) -> None:
    await _setup(sim, receiver, format="form", secret=SECRET, query={"token": "a+b c"})
    await _change(sim, "customerpayments", "created")
    await _drain(sim)
    (req,) = receiver.requests
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qsl(req.body.decode(), keep_blank_values=True)
    assert [k for k, _ in form] == ["JSONString"]
    payload = json.loads(form[0][1])
    assert list(payload) == ["payment"]  # customer payments use the key "payment"
    assert dict(req.query) == {"token": "a+b c", "entity": "customerpayment", "action": "created"}
    expected = _expected_signature(req.query, form, b"")
    assert req.headers["X-Zoho-Webhook-Signature"] == expected


async def test_raw_default_and_custom_templates(sim: Sim, receiver: Receiver) -> None:
    await _setup(sim, receiver, format="raw", secret=SECRET)
    item_id = next(iter(sim.state.store.table("items").records))
    change = await _change(sim, "items", "edited", item_id)
    await _drain(sim)
    body = json.loads(receiver.requests[0].body)
    assert body == {
        "entity": "item",
        "action": "edited",
        "id": item_id,
        "last_modified_time": change["last_modified_time"],
    }
    assert receiver.requests[0].headers["X-Zoho-Webhook-Signature"] == _expected_signature(
        receiver.requests[0].query, [], receiver.requests[0].body
    )
    template = "id=${ITEM.ITEM_ID};sku=${item.sku};other=${INVOICE.INVOICE_ID};all=${JSONString}"
    await _setup(sim, receiver, raw_template=template, raw_content_type="text/plain")
    await _change(sim, "items", "edited", item_id)
    await _drain(sim)
    req = receiver.requests[1]
    assert req.headers["Content-Type"] == "text/plain"
    text = req.body.decode()
    sku = sim.state.store.table("items").records[item_id].data["sku"]
    assert text.startswith(f"id={item_id};sku={sku};other=${{INVOICE.INVOICE_ID}};all=")
    assert json.loads(text.split(";all=", 1)[1])["item"]["item_id"] == item_id


async def test_delete_sends_id_only_or_the_last_snapshot(sim: Sim, receiver: Receiver) -> None:
    await _setup(sim, receiver)
    ids = list(sim.state.store.table("bills").records)
    await _change(sim, "bills", "deleted", ids[0])
    await _setup(sim, receiver, include_snapshot_on_delete=True)
    await _change(sim, "bills", "deleted", ids[1])
    await _drain(sim)
    first, second = (json.loads(r.body) for r in receiver.requests)
    assert first == {"bill": {"bill_id": ids[0]}}
    assert second["bill"]["bill_id"] == ids[1] and "line_items" in second["bill"]
    assert receiver.requests[0].query[-1] == ("action", "deleted")


async def test_rules_method_and_per_rule_overrides(sim: Sim, receiver: Receiver) -> None:
    rules = [
        {
            "entity": "invoice",
            "action": "created",
            "method": "PUT",
            "headers": {"X-Rule": "inv"},
            "query": {"rule": "7"},
        },
        "contact.deleted",
    ]
    await _setup(sim, receiver, rules=rules, rule_query=False)
    await _change(sim, "invoices", "created")
    await _change(sim, "invoices", "edited")  # no rule: nothing sent
    contact_id = list(sim.state.store.table("contacts").records)[-1]
    await _change(sim, "contacts", "deleted", contact_id)
    await _drain(sim)
    assert [(r.method, r.query) for r in receiver.requests] == [
        ("PUT", [("rule", "7")]),
        ("POST", []),
    ]
    assert receiver.requests[0].headers["X-Rule"] == "inv"
    assert json.loads(receiver.requests[1].body) == {"contact": {"contact_id": contact_id}}


async def test_no_webhook_changes_send_nothing(sim: Sim, receiver: Receiver) -> None:
    await _setup(sim, receiver)
    await sim.control("changes", {"no_webhook_fraction": 1.0, "apply": 10})
    body = await _drain(sim)
    assert receiver.requests == []
    assert body["webhooks"]["suppressed"] == 10


async def test_duplicates_and_drops(sim: Sim, receiver: Receiver) -> None:
    await _setup(sim, receiver, duplicate_rate=1.0)
    change = await _change(sim, "items", "created")
    body = await _drain(sim)
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    assert json.loads(receiver.requests[0].body)["item"]["item_id"] == change["id"]
    assert body["webhooks"]["duplicated"] == 1
    await _setup(sim, receiver, duplicate_rate=0.0, drop_rate=1.0)
    await _change(sim, "items", "created")
    body = await _drain(sim)
    assert len(receiver.requests) == 2
    assert body["webhooks"]["dropped"] == 1


async def test_retry_on_500_until_delivered(sim: Sim, receiver: Receiver) -> None:
    await _setup(sim, receiver)
    receiver.statuses.extend([500, 503])
    await _change(sim, "salesorders", "created")
    body = await _drain(sim)
    assert len(receiver.requests) == 3
    assert len({r.body for r in receiver.requests}) == 1
    hooks = body["webhooks"]
    assert (hooks["sent"], hooks["retried"], hooks["delivered"], hooks["failed"]) == (3, 2, 1, 0)
    log = await sim.control("webhooks/log")
    assert [a["status"] for a in log["attempts"]] == [500, 503, 200]
    assert [a["attempt"] for a in log["attempts"]] == [1, 2, 3]


async def test_gives_up_after_max_attempts(sim: Sim, receiver: Receiver) -> None:
    await _setup(sim, receiver)
    receiver.statuses.extend([500] * 5)
    await _change(sim, "bills", "created")
    body = await _drain(sim)
    assert len(receiver.requests) == 3
    assert body["webhooks"]["failed"] == 1 and body["webhooks"]["delivered"] == 0


async def test_timeout_counts_as_failure_and_is_retried(sim: Sim, receiver: Receiver) -> None:
    await _setup(sim, receiver, timeout_s=0.2)
    receiver.delay_s[0] = 0.5
    await _change(sim, "contacts", "created")
    await until(lambda: sim.state.stats.webhooks["retried"] >= 1, 10,
                what="the slow first attempt timed out")
    receiver.delay_s[0] = 0.0
    body = await _drain(sim)
    assert body["webhooks"]["retried"] >= 1
    assert body["webhooks"]["delivered"] == 1
    log = await sim.control("webhooks/log")
    assert log["attempts"][0]["error"] in ("ServerTimeoutError", "TimeoutError")


async def test_reorder_holds_a_webhook_back(sim: Sim, receiver: Receiver) -> None:
    await _setup(sim, receiver, reorder_rate=1.0, reorder_hold_s=0.3)
    first = await _change(sim, "items", "created")
    await _setup(sim, receiver, reorder_rate=0.0)
    second = await _change(sim, "items", "created")
    await _drain(sim)
    order = [json.loads(r.body)["item"]["item_id"] for r in receiver.requests]
    assert order == [second["id"], first["id"]]


async def test_delay_ms_postpones_delivery(sim: Sim, receiver: Receiver) -> None:
    await _setup(sim, receiver, delay_ms=300)
    await _change(sim, "items", "created")
    # Held on a timer, not queued for sending (a state, not a guess of how long it takes).
    assert len(sim.state.dispatcher._timers) == 1 and sim.state.dispatcher.pending == 1
    assert receiver.requests == []
    await _drain(sim)
    assert len(receiver.requests) == 1


async def test_bounded_queue_counts_overflow(sim_factory: SimFactory, receiver: Receiver) -> None:
    hooks = replace(WebhookConfig(), url=receiver.url, concurrency=1, queue_size=2)
    sim = await sim_factory(small_config(webhooks=hooks))
    receiver.delay_s[0] = 0.2
    await sim.control(
        "changes",
        {
            "no_webhook_fraction": 0.0,
            "apply": [{"entity": "items", "action": "created"} for _ in range(6)],
        },
    )
    body = await _drain(sim)
    overflow = body["webhooks"]["overflow"]
    assert overflow >= 1
    assert body["webhooks"]["delivered"] + overflow == 6


async def test_remote_webhook_url_is_refused(sim: Sim) -> None:
    resp = await sim.client.post("/_sim/webhooks", json={"url": "http://203.0.113.5/hook"})
    assert resp.status == 400
    assert "loopback" in (await resp.json())["error"]
    resp = await sim.client.post("/_sim/webhooks", json={"format": "xml"})
    assert resp.status == 400
    settings = await sim.control("webhooks", {"secret": SECRET})
    assert settings["secret"] is None and settings["secret_set"] is True
