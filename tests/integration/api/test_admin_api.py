"""The admin API and BFF against real PostgreSQL read models and a real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
from confluent_kafka import Consumer, TopicPartition
from openapi_spec_validator import validate

from api.openapi import document
from projections import dead_letters, sync_runs
from schemas.cloudevents import ce_headers, header_map
from schemas.events import Command, SyncRunEntity, SyncRunEvent, decode_event
from schemas.topics import entity_key
from tds.kafka import consumer_config
from tds.retry import Origin, RetryPolicy, route_failure
from tests.integration.api.conftest import TOKEN, ApiHarness

AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2025, 11, 13, 7, 0, tzinfo=UTC)


def _run(run_id: str, status: str, minutes: int, seen: int = 0, changed: int = 0,
         failed: int = 0) -> SyncRunEvent:
    return SyncRunEvent(event_id=f"{run_id}-{status}", run_id=run_id, status=status,
                        run_type="full" if run_id != "r-stock" else "stock", source="zoho",
                        org_id="42", entity_types=["item"], at=T0 + timedelta(minutes=minutes),
                        started_at=T0, seen=seen, changed=changed, failed=failed)


async def _seed_runs(api: ApiHarness) -> None:
    async with api.pool.acquire() as conn:
        await sync_runs.apply(conn, [
            _run("r1", "started", 0), _run("r1", "completed", 2, seen=10, changed=4),
            _run("r2", "started", 1), _run("r2", "failed", 3, failed=1),
            _run("r-stock", "started", 5),
        ])


def _consume(bootstrap: str, topic: str, group: str, count: int) -> list[tuple[
        bytes | None, bytes | None, dict[str, bytes]]]:
    consumer = Consumer(consumer_config(bootstrap, group))
    consumer.subscribe([topic])
    out = []
    try:
        for _ in range(100):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                out.append((message.key(), message.value(), header_map(message.headers())))
                if len(out) == count:
                    break
    finally:
        consumer.close()
    return out


def _partition_sizes(bootstrap: str, topic: str) -> list[int]:
    consumer = Consumer(consumer_config(bootstrap, "sizes"))
    try:
        return [high - low for low, high in (
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            for p in range(3))]
    finally:
        consumer.close()


async def test_health_and_bff(api: ApiHarness) -> None:
    await _seed_runs(api)
    response = await api.client.get("/api/tds/health", headers=AUTH)
    assert response.status == 200
    doc = await response.json()
    # Kafka and PostgreSQL answer, but nothing consumes: degraded, with the reasons named.
    assert doc["status"] == "degraded"
    assert "no stream worker is running" in doc["problems"]
    assert doc["workers_active"] == 0 and doc["queue_size"] == 0
    assert doc["last_sync"].startswith("2025-11-13T07:02:00")
    bff = await (await api.client.get("/api/bff/tds/status", headers=AUTH)).json()
    assert bff == {"sync_active": True, "queue_size": 0, "last_sync": doc["last_sync"],
                   "health": "degraded"}
    recent = await (await api.client.get("/api/bff/tds/recent", headers=AUTH)).json()
    # All three started at T0: ties go by run id, descending (the keyset order).
    assert [r["run_id"] for r in recent["runs"]] == ["r2", "r1", "r-stock"]


async def test_health_names_a_partition_restarted_from_the_log_start(api: ApiHarness) -> None:
    async with api.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO offset_incidents (consumer_group, topic, partition, stored_offset, "
            "restarted_from, reason, found_at) VALUES ('tds-projector', 'tds.entity.synced', "
            "2, 5000, 0, 'stored offset 5000 is beyond the log end 12', now()), "
            "('tds-projector', 'tds.entity.synced', 3, 10, 0, 'long ago', "
            "now() - interval '25 hours')")
    doc = await (await api.client.get("/api/tds/health", headers=AUTH)).json()
    assert doc["status"] == "degraded"
    found = [p for p in doc["problems"] if "tds.entity.synced[" in p]
    assert len(found) == 1, doc["problems"]  # the one of a day ago has been seen
    assert found[0].startswith("tds-projector tds.entity.synced[2]: stored offset 5000 is "
                               "beyond the log end 12; restarted from offset 0 at ")


async def test_sync_runs_page_filter_and_log(api: ApiHarness) -> None:
    await _seed_runs(api)
    page = await (await api.client.get("/api/tds/sync-runs?limit=2", headers=AUTH)).json()
    assert page["total"] == 3 and len(page["runs"]) == 2
    failed = await (await api.client.get("/api/tds/sync-runs?status=failed", headers=AUTH)).json()
    assert [r["run_id"] for r in failed["runs"]] == ["r2"]
    one = await (await api.client.get("/api/tds/sync-runs/r1", headers=AUTH)).json()
    assert one["status"] == "completed" and one["duration_s"] == 120.0 and one["seen"] == 10
    log = await api.client.get("/api/tds/sync-runs/r1?format=log", headers=AUTH)
    assert log.status == 200 and "attachment" in log.headers["Content-Disposition"]
    assert "changed 4" in await log.text()
    missing = await api.client.get("/api/tds/sync-runs/nope", headers=AUTH)
    assert missing.status == 404
    assert await missing.json() == {"error": "not_found", "detail": "no sync run 'nope'"}
    bad = await api.client.get("/api/tds/sync-runs?limit=0", headers=AUTH)
    assert bad.status == 400
    assert (await bad.json())["detail"] == "limit=0 is out of range (1-500)"
    bad_status = await api.client.get("/api/tds/sync-runs?status=<script>", headers=AUTH)
    assert bad_status.status == 400


async def test_sync_runs_keyset_pages_match_offset_pages(api: ApiHarness) -> None:
    """Following `next` visits every run once, in the offset pages' order, undated last."""
    async with api.pool.acquire() as conn:
        await sync_runs.apply(conn, [
            _run(f"k{n:02d}", "started", n % 4) for n in range(11)])  # ties on started_at
        await conn.execute("UPDATE sync_runs SET started_at = NULL WHERE run_id IN "
                           "('k03', 'k07')")
    by_offset = await (await api.client.get("/api/tds/sync-runs?limit=500", headers=AUTH)).json()
    order = [r["run_id"] for r in by_offset["runs"]]
    assert order[-2:] == ["k07", "k03"] and by_offset["next"] is None
    seen: list[str] = []
    url = "/api/tds/sync-runs?limit=3"
    for _ in range(10):  # bounded: 11 runs in pages of 3
        page = await (await api.client.get(url, headers=AUTH)).json()
        assert page["total"] == len(order)
        seen += [r["run_id"] for r in page["runs"]]
        if page["next"] is None:
            break
        url = f"/api/tds/sync-runs?limit=3&after={page['next']}"
    assert seen == order
    both = await api.client.get(f"/api/tds/sync-runs?offset=3&after={page['next'] or 'x'}",
                                headers=AUTH)
    assert both.status == 400
    junk = await api.client.get("/api/tds/sync-runs?after=bm90LWEtY3Vyc29y", headers=AUTH)
    assert junk.status == 400 and "not a cursor" in (await junk.json())["detail"]


async def test_writes_need_the_token(api: ApiHarness) -> None:
    for path in ("/api/tds/sync", "/api/tds/stock/sync", "/api/tds/deadletter/retry"):
        response = await api.client.post(path, json={})
        assert response.status == 401, path
        wrong = await api.client.post(path, json={},
                                      headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401, path
        assert TOKEN not in await wrong.text()


async def test_manual_sync_publishes_a_command(api: ApiHarness, kafka_bootstrap: str,
                                               group_factory: Callable[[str], str]) -> None:
    response = await api.client.post("/api/tds/sync", headers=AUTH,
                                     json={"entity_type": "products", "source": "zoho"})
    assert response.status == 202
    body = await response.json()
    assert body["entity_types"] == ["item"]
    stock = await api.client.post("/api/tds/stock/sync", headers=AUTH)
    assert stock.status == 202
    bad = await api.client.post("/api/tds/sync", headers=AUTH, json={"entity_type": "cars"})
    assert bad.status == 400 and "entity_type 'cars'" in (await bad.json())["detail"]
    blank = await api.client.post("/api/tds/sync", headers=AUTH, json={"entity_type": ""})
    assert blank.status == 400 and "entity_type ''" in (await blank.json())["detail"]
    got = await asyncio.to_thread(_consume, kafka_bootstrap, api.ctx.commands_topic,
                                  group_factory("cmd"), 2)
    commands = [decode_event(value or b"") for _, value, _ in got]
    assert all(isinstance(c, Command) for c in commands)
    assert [(c.kind, c.run_id) for c in commands if isinstance(c, Command)] == [
        ("sync", body["run_id"]), ("stock_sync", (await stock.json())["run_id"])]
    assert got[0][2]["ce_type"] == b"tds.command"


async def test_dead_letters_list_and_retry(api: ApiHarness, kafka_bootstrap: str,
                                           topic_factory: Callable[..., str],
                                           group_factory: Callable[[str], str]) -> None:
    original = topic_factory("orig", partitions=3)
    key = entity_key("42", "item", "1")
    headers = ce_headers("zoho.webhook.received", "/tds/web", event_id="ev-9")
    # Partition 2, which is not where the key hashes to: back where it failed, as `tds dlq`.
    routed = route_failure(RetryPolicy(()), headers, Origin(original, 2, 7, 0, "g", "streams"),
                           ValueError("<script>alert('x')</script>"))
    async with api.pool.acquire() as conn:
        await dead_letters.apply(conn, [dead_letters.row(
            topic="tds.deadletter", partition=0, offset=3, timestamp_ms=1_700_000_000_000,
            key=key, value=b"\x01original bytes", headers=routed.headers)])
    page = await (await api.client.get("/api/tds/deadletter?status=pending", headers=AUTH)).json()
    assert page["total"] == 1
    item = page["items"][0]
    assert item["error_message"] == "<script>alert('x')</script>"
    assert item["entity_type"] == "item" and item["stage"] == "streams"
    both = await api.client.post("/api/tds/deadletter/retry", headers=AUTH,
                                 json={"ids": [item["id"]], "all": True})
    assert both.status == 400 and "not both" in (await both.json())["detail"]
    response = await api.client.post("/api/tds/deadletter/retry", headers=AUTH,
                                     json={"ids": [item["id"], "unknown"]})
    assert response.status == 202
    result = await response.json()
    assert result["ids"] == [item["id"]] and result["not_pending"] == ["unknown"]
    back = await asyncio.to_thread(_consume, kafka_bootstrap, original, group_factory("dl"), 1)
    assert back[0][0] == key and back[0][1] == b"\x01original bytes"
    assert back[0][2]["ce_type"] == b"zoho.webhook.received"
    assert back[0][2]["ce_id"] == b"ev-9"
    assert back[0][2]["tds_deadletter_id"] == b"tds.deadletter:0:3"
    assert await asyncio.to_thread(_partition_sizes, kafka_bootstrap, original) == [0, 0, 1]
    after = await (await api.client.get("/api/tds/deadletter?status=retried", headers=AUTH)).json()
    assert after["total"] == 1 and after["items"][0]["retry_count"] == 1
    again_response = await api.client.post("/api/tds/deadletter/retry-all", headers=AUTH)
    again = await again_response.json()
    assert again_response.status == 202, again
    assert again["requested"] == 0


async def test_status_queue_openapi_metrics_dashboard(api: ApiHarness) -> None:
    await _seed_runs(api)
    status = await (await api.client.get("/api/tds/status", headers=AUTH)).json()
    assert status["entities"]["item"] == 0 and status["active_syncs"] == 1
    assert status["dead_letters"] == {"pending": 0, "retried": 0, "resolved": 0}
    queue = await (await api.client.get("/api/tds/queue", headers=AUTH)).json()
    assert queue["queue_size"] == 0 and queue["eta_seconds"] == 0.0
    spec = await (await api.client.get("/api/openapi.json")).json()
    validate(spec)
    assert spec == document()
    metrics = await api.client.get("/metrics", headers=AUTH)
    assert metrics.status == 200
    assert "# TYPE tds_webhook_request_duration_seconds histogram" in await metrics.text()
    page = await api.client.get("/tds-admin")
    html = await page.text()
    assert page.status == 200 and "Content-Security-Policy" in html
    assert page.headers["X-Frame-Options"] == "DENY"
    script = await api.client.get("/tds-admin/static/dashboard.js")
    assert script.status == 200 and "innerHTML" not in await script.text()
    history = await (await api.client.get("/api/tds/history", headers=AUTH)).json()
    assert history["sync_time_s"] == [[datetime(2025, 11, 13, 7, 2, tzinfo=UTC).timestamp(),
                                       120.0]]


async def test_a_running_run_shows_its_progress_and_keeps_it_when_closed(
        api: ApiHarness) -> None:
    now = datetime.now(UTC)
    entities = [SyncRunEntity("item", seen=400, sent=400, pages=2, total=1000),
                SyncRunEntity("contact", seen=200, sent=199, failed=1, pages=1, total=200)]
    progress = replace(_run("r-live", "started", 0, seen=600), started_at=now - timedelta(
        seconds=60), at=now, entity_types=["item", "contact"], entities=entities,
        configuration={"mode": "full"})
    # The workers' report of the same moment: fewer processed, and what they changed.
    processed = replace(progress, event_id="w", seen=450, changed=300, entities=[],
                        at=now + timedelta(milliseconds=5),
                        configuration={"counted_by": "streams"})
    async with api.pool.acquire() as conn:
        await sync_runs.apply(conn, [progress])
        await sync_runs.apply(conn, [processed])
    run = await (await api.client.get("/api/tds/sync-runs/r-live", headers=AUTH)).json()
    assert run["seen"] == 600 and run["changed"] == 300 and run["status"] == "started"
    assert orjson.loads(run["configuration"]) == {"mode": "full", "counted_by": "streams"}
    assert run["progress"]["pages"] == 3 and run["progress"]["total"] == 1200
    assert run["progress"]["entities"][1] == {"entity_type": "contact", "seen": 200,
                                              "sent": 199, "failed": 1, "pages": 1,
                                              "total": 200}
    assert run["progress"]["eta_s"] > 0  # its value: tests/unit/api/test_progress.py
    closed = replace(_run("r-live", "completed", 5, seen=1200), at=now + timedelta(seconds=1))
    async with api.pool.acquire() as conn:  # the workers' closing event carries no entities
        await sync_runs.apply(conn, [closed])
    done = await (await api.client.get("/api/tds/sync-runs/r-live", headers=AUTH)).json()
    assert done["status"] == "completed" and done["progress"]["pages"] == 3
    assert done["progress"]["eta_s"] is None
