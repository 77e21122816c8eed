"""Webhooks behind a backlog: how long a realtime raw event takes to come out of a worker
as `tds.entity.synced` while the same worker drains a bulk backlog (issue 13's goal:
p99 ≤ 100 ms behind 100,000 events, on either engine).

Latency is the synced message's own timestamp (set by the worker's producer) less the
moment the raw event was produced: the worker's latency, not the reader's.

Two phases on one worker: webhooks from its first 1,000 backlog events on ("start-up"),
then at once another round ("steady"). In the first seconds of a faust worker its group
can still settle, and the webhooks of that moment waited up to ~0.7 s (3 runs of 4); the
goal is the steady one's, both are shown.
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, Producer, TopicPartition

from bench.streams.workload import events
from tds.kafka import client_config, producer_config


@dataclass(frozen=True)
class Realtime:
    """One engine's webhooks behind its backlog."""

    engine: str
    phase: str  # "start-up" (from the worker's first events on) or "steady" (right after)
    backlog: int
    webhooks: int
    arrived: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    backlog_done_at_last: int  # synced outputs of the backlog when the last webhook's came


def _synced_so_far(consumer: Consumer, topic: str) -> int:
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
               for p in meta.partitions)


def behind_backlog(bootstrap: str, *, engine: str, backlog: int, realtime_topic: str,
                   synced_topic: str, phase: str = "start-up", webhooks: int = 200,
                   rate_per_s: float = 20.0, start_after: int = 1000,
                   timeout_s: float = 300.0) -> Realtime:
    """Send `webhooks` realtime events at `rate_per_s` once the worker has emitted
    `start_after` backlog events, and time each one's way out."""
    reader = Consumer(client_config(bootstrap, **{"group.id": f"bench-rt-{uuid.uuid4().hex}",
                       "enable.auto.commit": False}))
    deadline = time.monotonic() + timeout_s
    while _synced_so_far(reader, synced_topic) < start_after:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{engine}: the worker emitted < {start_after} in {timeout_s}s")
        time.sleep(0.05)
    meta = reader.list_topics(synced_topic, timeout=10).topics[synced_topic]
    reader.assign([TopicPartition(synced_topic, p,
                                  reader.get_watermark_offsets(
                                      TopicPartition(synced_topic, p), timeout=10)[1])
                   for p in meta.partitions])
    producer = Producer(producer_config(bootstrap, **{"linger.ms": 0}))
    messages = list(events(webhooks, seed=f"rt{uuid.uuid4().hex[:4]}"))
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    pending = {key for key, _ in messages}

    def drain(wait_s: float) -> None:
        for message in reader.consume(1000, wait_s):
            key = message.key()
            if message.error() is None and key in pending and key in sent:
                pending.discard(key)
                latencies.append(message.timestamp()[1] / 1000 - sent[key])

    for key, value in messages:
        sent[key] = time.time()
        producer.produce(realtime_topic, key=key, value=value)
        producer.flush(10)  # each on its own, as webhooks come
        drain(0)
        time.sleep(1 / rate_per_s)
    while pending and time.monotonic() < deadline:
        drain(0.1)
    done = _synced_so_far(reader, synced_topic) - len(latencies)
    reader.close()
    ordered = sorted(latencies) or [float("nan")]
    return Realtime(engine, phase, backlog, webhooks, len(latencies),
                    round(statistics.median(ordered) * 1000, 1),
                    round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
                    round(ordered[-1] * 1000, 1), done)
