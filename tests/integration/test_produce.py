"""`tds produce` reads back what `tds tail` prints: piped from one topic to another, every
value is byte for byte the same Avro and the CloudEvents headers survive."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from confluent_kafka import Consumer, Producer, TopicPartition

from bench.projector.events import Workload
from schemas.cloudevents import ce_headers, header_map
from schemas.events import Command, RawEvent
from tds.kafka import consumer_config, producer_config
from tds.provision.common import Services


def _env(services: Services) -> dict[str, str]:
    return {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": services.kafka_bootstrap_servers}


def tds(services: Services, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the `tds` command against the test's services."""
    return subprocess.run([sys.executable, "-m", "tds.cli", *args], input=stdin,
                          capture_output=True, text=True, env=_env(services), timeout=120,
                          check=False)


def read_all(bootstrap: str, topic: str, count: int) -> list[tuple[bytes | None, bytes,
                                                                    dict[str, bytes]]]:
    """The first `count` messages of a one-partition topic."""
    consumer = Consumer(consumer_config(bootstrap, "produce-check"))
    consumer.assign([TopicPartition(topic, 0, 0)])
    out = []
    try:
        for _ in range(120):
            for message in consumer.consume(count, 0.5):
                if message.error() is None:
                    out.append((message.key(), message.value() or b"",
                                header_map(message.headers())))
            if len(out) >= count:
                break
    finally:
        consumer.close()
    return out


def test_tail_piped_into_produce_gives_the_same_bytes(
        services: Services, topic_factory: Callable[..., str]) -> None:
    source, target = topic_factory("tailed", partitions=1), topic_factory("produced", 1)
    at = datetime(2025, 11, 13, 7, 30, 15, 123456, tzinfo=UTC)
    values: list[tuple[bytes, bytes]] = [
        (k, e.encode()) for k, e in Workload(keys=20, seed=4).stream(30)]  # every model
    values.append((b"c1", Command(command_id="c1", kind="sync", run_id="r1", requested_at=at,
                                  entity_types=["item"]).encode()))
    values.append((b"42:item:9", RawEvent(
        event_id="e9", source="webhook", org_id="42", entity_type="item", entity_id="9",
        event_kind="edited", received_at=at, body=b'{"item": {"item_id": "9"}}',
        content_type="application/json", signature_verified=True).encode()))
    producer = Producer(producer_config(services.kafka_bootstrap_servers))
    for key, value in values:
        producer.produce(source, key=key, value=value,
                         headers=ce_headers("tds.entity.synced", "/test", event_id=key.decode()))
    assert producer.flush(30) == 0

    tailed = tds(services, "tail", source, "--from-beginning", "--headers",
                 "-n", str(len(values)), "--idle-exit-s", "20")
    assert tailed.returncode == 0, tailed.stderr
    produced = tds(services, "produce", target, stdin=tailed.stdout)
    assert produced.returncode == 0, produced.stderr
    assert f"produced {len(values)} message(s)" in produced.stderr

    got = read_all(services.kafka_bootstrap_servers, target, len(values))
    assert [(k, v) for k, v, _ in got] == values
    assert all(h["ce_id"] == k and h["ce_type"] == b"tds.entity.synced"
               and h["ce_source"] == b"/test" for k, _, h in got)


def test_a_bad_line_sends_nothing(services: Services,
                                  topic_factory: Callable[..., str]) -> None:
    target = topic_factory("produced", partitions=1)
    good = ('{"key": "c1", "type": "Command", "value": {"command_id": "c1", "kind": "sync", '
            '"run_id": "r1", "requested_at": "2025-11-13T07:00:00Z"}}')
    bad = '{"key": "c2", "type": "Command", "value": {"command_id": "c2"}}'
    result = tds(services, "produce", target, "--ce-type", "tds.command",
                 stdin=f"{good}\n{bad}\n")
    assert result.returncode == 1
    assert "line 2: not a valid Command" in result.stderr and "nothing sent" in result.stderr
    sent = tds(services, "produce", target, "--ce-type", "tds.command", stdin=good + "\n")
    assert sent.returncode == 0, sent.stderr
    [(key, value, headers)] = read_all(services.kafka_bootstrap_servers, target, 1)
    assert key == b"c1" and headers["ce_type"] == b"tds.command"
    assert headers["ce_source"] == b"/tds/cli/produce" and headers["ce_id"] == b"c1"
    assert value == Command(command_id="c1", kind="sync", run_id="r1",
                            requested_at=datetime(2025, 11, 13, 7, tzinfo=UTC)).encode()
