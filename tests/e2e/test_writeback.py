"""Write-back through the whole system: a sales order created through the API (with the
Python client) reaches Zoho (the simulator's truth) and the read model with its Zoho id,
and its `tds.entity.synced` event says it was the ERP's own change."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import pytest
from confluent_kafka import Consumer, TopicPartition

from producers.outbound import OutboundClient
from schemas.events import EntitySynced, decode_event
from schemas.topics import ENTITY_SYNCED, entity_key
from tds.provision.common import Services
from tests.support.pipeline import TOKEN, System, http, running_system


@pytest.fixture
def system(services: Services) -> Iterator[System]:
    org = str(random.randrange(10**10, 10**11))
    # Zoho sends a write's webhook after it answered the write, usually seconds later; the
    # simulator fires at once unless told to wait. No poll at all (not even the ones a
    # fresh start fires): a poll that fetches the new order before the writer's copy
    # arrives wins the race the same way. (Either way the synced event is then unmarked:
    # README, "Write-back".)
    sim_args = ("--items", "60", "--contacts", "20", "--salesorders", "20", "--invoices", "20",
                "--hostile-fraction", "0", "--delay-ms", "1500")
    with running_system(services, org=org, workers=1, sim_args=sim_args,
                        extra_env={"TDS_ENABLE_AUTO_SYNC": "false"}) as running:
        yield running


def _synced_headers(bootstrap: str, key: bytes, since_ms: int,
                    timeout_s: float = 60) -> dict[str, bytes]:
    """Headers of the first tds.entity.synced event of `key` written after `since_ms`."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"e2e-wb-{since_ms}",
                         "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(ENTITY_SYNCED, timeout=10).topics[
            ENTITY_SYNCED].partitions
        wanted = [TopicPartition(ENTITY_SYNCED, p, since_ms) for p in partitions]
        consumer.assign(consumer.offsets_for_times(wanted, timeout=10))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None and message.key() == key:
                found = {k: v or b"" for k, v in message.headers() or []}
                event = decode_event(message.value() or b"")
                assert isinstance(event, EntitySynced)
                found["source"] = event.source.encode()
                return found
    finally:
        consumer.close()
    raise AssertionError(f"no tds.entity.synced event of {key!r} in {timeout_s}s")


async def test_sales_order_written_back(system: System, services: Services) -> None:
    since_ms = int(time.time() * 1000)
    truth = http("GET", f"{system.sim_url}/_sim/state/contacts")["records"]
    customer = next(i for i, c in truth.items() if c["contact_type"] == "customer")
    item = next(iter(http("GET", f"{system.sim_url}/_sim/state/items")["records"]))
    async with OutboundClient(system.web_url, token=TOKEN) as tds:
        command_id = await tds.push({
            "org_id": system.org, "entity_type": "salesorder", "operation": "create",
            "erp_ref": "ERP-E2E-1", "requested_by": "e2e",
            "requested_at": datetime.now(UTC).isoformat(),
            "fields": {"customer_id": customer, "line_items": [{"item_id": item,
                                                                "quantity": 3}]}})
        result = await tds.wait(command_id, timeout_s=120)
    assert result["status"] == "applied", result
    order_id = result["zoho_id"]
    order = http("GET", f"{system.sim_url}/_sim/state/salesorders")["records"][order_id]
    assert order["reference_number"] == "ERP-E2E-1"

    conn = await asyncpg.connect(services.database_url)
    try:
        row = None
        deadline = time.monotonic() + 60
        while row is None and time.monotonic() < deadline:
            row = await conn.fetchrow("SELECT salesorder_id, customer_id FROM sales_orders "
                                      "WHERE org_id = $1 AND salesorder_id = $2",
                                      system.org, order_id)
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    assert row is not None, "the read model never showed the written sales order"
    assert row["customer_id"] == customer

    headers = _synced_headers(services.kafka_bootstrap_servers,
                              entity_key(system.org, "salesorder", order_id), since_ms)
    assert headers.get("tds_origin") == b"erp", headers.get("source")
    assert headers.get("tds_command_id") == command_id.encode()

    status = http("GET", f"{system.web_url}/api/tds/status", token=TOKEN)
    assert status["outbound"]["commands"]["applied"] >= 1
    assert status["outbound"]["writer_members"] >= 1
