"""The relay on the real broker: never early, back to the origin partition, survives a
restart; `tds dlq` lists dead letters and sends them back."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Message, Producer

from consumers.relay import Relay, RelayConfig
from schemas.cloudevents import ce_headers, header_map
from tds.errors import TDSError
from tds.kafka import consumer_config, producer_config
from tds.retry import Origin, RetryPolicy, read_state, route_failure

ROOT = Path(__file__).resolve().parents[3]


class Invalid(TDSError):
    """Never retriable."""


def _read(bootstrap: str, topic: str, count: int, timeout_s: float) -> list[Message]:
    consumer = Consumer(consumer_config(bootstrap, f"reader-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([topic])
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        got += [m for m in consumer.consume(100, 0.2) if m.error() is None]
    consumer.close()
    return got


def _start(relay: Relay) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def test_no_retry_is_delivered_before_its_due_time_even_across_a_restart(
        kafka_bootstrap: str, topic_factory: Callable[..., str],
        group_factory: Callable[[str], str]) -> None:
    origin = topic_factory("origin", partitions=3)
    levels = [topic_factory("retry", partitions=2) for _ in range(2)]
    producer = Producer(producer_config(kafka_bootstrap))
    start = datetime.now(UTC)
    sent = {}
    for n in range(24):
        # due 1.0 .. 3.3 s from now, increasing within each retry topic
        policy = RetryPolicy((1.0 + n * 0.1,))
        where = Origin(origin, n % 3, 100 + n, 0, "g", "streams")
        routed = route_failure(policy, ce_headers("zoho.webhook.received", "/web"), where,
                               ConnectionError("down"), now=start)
        key = f"k{n}".encode()
        producer.produce(levels[n % 2], key=key, value=f"v{n}".encode(),
                         headers=routed.headers)
        assert routed.due_at is not None
        sent[key] = (f"v{n}".encode(), n % 3, routed.due_at)
    assert producer.flush(30) == 0

    group = group_factory("relay")
    config = RelayConfig(kafka_bootstrap, tuple(levels), group=group, poll_timeout_s=0.2)
    stop, thread = _start(Relay(config))
    early = _read(kafka_bootstrap, origin, 1, 30)  # the first delivered, the rest paused
    stop.set()
    thread.join(30)
    assert early, "the relay delivered nothing before the restart"
    stop, thread = _start(Relay(config))  # a restart: due times come from the headers
    delivered = _read(kafka_bootstrap, origin, len(sent), 30)
    stop.set()
    thread.join(30)

    assert {m.key() for m in delivered} == set(sent)
    for message in delivered:
        value, partition, due = sent[message.key() or b""]
        assert (message.value(), message.partition()) == (value, partition)
        produced_at = message.timestamp()[1] / 1000
        assert produced_at >= due.timestamp() - 0.001, (message.key(), produced_at, due)
        found = header_map(message.headers())
        assert found["ce_type"] == b"zoho.webhook.received"
        assert read_state(message.headers()).attempt == 1


def test_dlq_lists_and_sends_back(kafka_bootstrap: str, topic_factory: Callable[..., str]
                                  ) -> None:
    origin = topic_factory("origin", partitions=3)
    dlq = topic_factory("dlq", partitions=2)
    producer = Producer(producer_config(kafka_bootstrap))
    for n in range(3):
        routed = route_failure(RetryPolicy((1.0,)), ce_headers("tds.entity.synced", "/s"),
                               Origin(origin, 2, 7 + n, 0, "g", "projections"),
                               Invalid(f"bad row {n}"))
        producer.produce(dlq, key=f"k{n}".encode(), value=f"v{n}".encode(),
                         headers=routed.headers)
    assert producer.flush(30) == 0
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap, PYTHONPATH=str(ROOT))

    def tds(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tds.cli", "dlq", "--topic", dlq, *args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                              check=False)

    listing = tds("list", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = [orjson.loads(line) for line in listing.stdout.splitlines()]
    assert len(rows) == 3
    assert {r["reason"] for r in rows} == {"invalid"} and rows[0]["stage"] == "projections"
    assert rows[0]["origin"].startswith(f"{origin}[2]@")
    chosen = rows[1]["id"]
    retried = tds("retry", chosen, "nothing:0")
    assert retried.returncode == 1 and "sent back 1" in retried.stdout
    assert "no dead letter nothing:0" in retried.stdout
    back = _read(kafka_bootstrap, origin, 1, 30)
    assert len(back) == 1 and back[0].partition() == 2
    assert back[0].value() == f"v{rows[1]['key'][1:]}".encode()
    found = header_map(back[0].headers())
    assert found["ce_type"] == b"tds.entity.synced"
    assert found["tds_deadletter_id"] == f"{dlq}:{chosen}".encode()
    everything = tds("retry", "--all", "--reset")
    assert everything.returncode == 0 and "sent back 3" in everything.stdout
    assert len(_read(kafka_bootstrap, origin, 4, 30)) == 4


def test_due_header_in_the_past_is_delivered_at_once(kafka_bootstrap: str,
                                                     topic_factory: Callable[..., str],
                                                     group_factory: Callable[[str], str]
                                                     ) -> None:
    origin = topic_factory("origin", partitions=1)
    level = topic_factory("retry", partitions=1)
    # An hour's backoff that fell due an hour ago: a relay that counted the backoff from
    # when it read the message would hold it for an hour, past the bounded read below.
    routed = route_failure(RetryPolicy((3600.0,)), [], Origin(origin, 0, 1, 0, "g", "s"),
                           ConnectionError("x"), now=datetime.now(UTC) - timedelta(hours=2))
    producer = Producer(producer_config(kafka_bootstrap))
    producer.produce(level, key=b"k", value=b"v", headers=routed.headers)
    assert producer.flush(30) == 0
    stop, thread = _start(Relay(RelayConfig(kafka_bootstrap, (level,),
                                            group=group_factory("relay"))))
    got = _read(kafka_bootstrap, origin, 1, 20)
    stop.set()
    thread.join(30)
    assert len(got) == 1
