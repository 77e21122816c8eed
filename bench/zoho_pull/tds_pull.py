"""The TDS side: the full-sync path (client pages → raw events to Kafka)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic

from producers.pollers.messages import Message, raw_record
from producers.pollers.publisher import KafkaPublisher
from producers.zoho.client import ClientOptions, ZohoClient
from producers.zoho.tokens import MemoryTokenStore
from tds.kafka import client_config, producer_config
from tds.metrics import Metrics
from tds.settings import Settings


class _Count:
    """A sink that only counts (when Kafka is not provisioned)."""

    async def send_all(self, topic: str, messages: Iterable[Message]) -> int:
        return sum(1 for _ in messages)


async def pull_with_tds(base: str, creds: dict[str, Any], *, per_page: int,
                        bootstrap: str | None, smooth: bool = True) -> dict[str, Any]:
    """Pull every item, publish it, and return counts and timings."""
    settings = Settings.from_env({
        "ZOHO_CLIENT_ID": creds["client_id"], "ZOHO_CLIENT_SECRET": creds["client_secret"],
        "ZOHO_REFRESH_TOKEN": creds["refresh_token"],
        "ZOHO_ORGANIZATION_ID": creds["organization_id"], "ZOHO_API_BASE": base})
    metrics = Metrics.create()
    topic = f"bench.zoho_pull.{uuid.uuid4().hex[:8]}"
    sink: Any = _Count()
    publisher = None
    if bootstrap:
        admin = AdminClient(client_config(bootstrap))
        admin.create_topics([NewTopic(topic, num_partitions=6,
                                      replication_factor=1)])[topic].result(timeout=30)
        publisher = sink = KafkaPublisher(producer_config(bootstrap))
        await publisher.__aenter__()
    records = pages = 0
    org = creds["organization_id"]
    run_id = str(uuid.uuid4())
    try:
        async with ZohoClient(settings, metrics=metrics, token_store=MemoryTokenStore(),
                              options=ClientOptions(smooth=smooth)) as zoho:
            started = time.monotonic()
            async for page in zoho.iter_pages("item", per_page=per_page):
                pages += 1
                at = datetime.now(UTC)
                await sink.send_all(topic, [raw_record(
                    org_id=org, entity_type="item", entity_id=str(r["item_id"]), record=r,
                    source="poll.full", run_id=run_id, at=at) for r in page])
                records += len(page)
            wall = time.monotonic() - started
            waited = zoho.limiter.waited_s
    finally:
        if publisher is not None and bootstrap:
            await publisher.close()
            AdminClient(client_config(bootstrap)).delete_topics([topic])
    requests = int(sum(s.value for m in metrics.zoho_api_calls.collect() for s in m.samples
                       if s.name.endswith("_total")))
    bound = requests / 100 * 60  # requests ÷ 100 per minute
    return {"records": records, "pages": pages, "requests": requests, "wall_s": wall,
            "bound_s": bound, "vs_bound_pct": (wall / bound - 1) * 100 if bound else 0.0,
            "limiter_wait_s": waited, "published_to_kafka": bool(bootstrap)}
