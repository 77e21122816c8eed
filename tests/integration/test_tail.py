"""`tds tail` prints decoded messages and names undecodable ones without stopping."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from confluent_kafka import Producer

from schemas.events import Command
from tds.kafka import producer_config
from tds.provision.common import Services


def test_tail_decodes(services: Services, topic_factory: Callable[..., str]) -> None:
    topic = topic_factory("tail", partitions=1)
    producer = Producer(producer_config(services.kafka_bootstrap_servers))
    command = Command(command_id="c1", kind="sync", run_id="r1",
                      requested_at=datetime(2025, 11, 13, tzinfo=UTC), entity_types=["item"])
    producer.produce(topic, key=b"k1", value=command.encode(), headers=[("ce_type", b"x")])
    producer.produce(topic, key=b"k2", value=b"garbage")
    assert producer.flush(30) == 0
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": services.kafka_bootstrap_servers}
    result = subprocess.run(
        [sys.executable, "-m", "tds.cli", "tail", topic, "--from-beginning", "-n", "2",
         "--headers", "--idle-exit-s", "20"],
        capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    first, second = (orjson.loads(line) for line in result.stdout.splitlines())
    assert first["type"] == "Command" and first["key"] == "k1"
    assert first["value"]["run_id"] == "r1" and first["value"]["entity_types"] == ["item"]
    assert first["headers"] == {"ce_type": "x"}
    assert second["key"] == "k2" and "bad marker" in second["undecodable"]
