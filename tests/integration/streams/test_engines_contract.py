"""The two engines, fed the same input, write the same outputs: keys, partitions,
headers and Avro bytes (event ids and times aside, which depend on when it ran)."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Message

from schemas.cloudevents import header_map
from schemas.events import RawEvent, decode_event
from tds.retry import H_DUE, H_FIRST_FAILURE, H_REASON, H_TIMESTAMP
from tests.integration.streams.support import (
    Reader,
    Topics,
    Worker,
    drop_retry_topics,
    make_topics,
    produce,
    running,
)
from tests.unit.streams.builders import T0, item, raw

# Header values that carry the time of processing (or an id derived from it).
# (The input is produced once per engine, so its timestamps differ too.)
_TIMELY = {"ce_id", "ce_time", H_FIRST_FAILURE, H_DUE, H_TIMESTAMP}


def _input() -> tuple[list[RawEvent], list[RawEvent]]:
    rng = random.Random(11)
    realtime, bulk = [], []
    # A record's events all on one topic: how the two topics interleave is timing, and
    # decides which versions are emitted (a later version first makes the earlier stale).
    for k in range(60):
        webhook = rng.random() < 0.5
        for v in rng.sample(range(3), 3):  # out of order, so some are stale
            record = item(f"k{k}", name=f"v{v}", modified=T0 + timedelta(seconds=v))
            if webhook:
                realtime.append(raw("item", record))
            else:
                bulk.append(raw("item", record, source="poll.full", kind="snapshot",
                                received=T0 + timedelta(minutes=1)))
    # Input that can never succeed: straight to the dead letters, with the reason.
    realtime.append(raw("item", body=b"{not json", entity_id="bad"))
    return realtime, bulk


def _outputs(messages: list[Message], topics: Topics, app_id: str) -> list[tuple[Any, ...]]:
    """What an engine wrote, comparable across runs: per topic role, key, partition,
    headers but the timely ones (this run's topic names and app id replaced by roles),
    and the value (decoded without its time for synced)."""
    roles = {topics.synced: "synced", topics.deadletter: "deadletter"}
    names = {topics.realtime.encode(): b"<realtime>", topics.bulk.encode(): b"<bulk>",
             app_id.encode(): b"<app>"}
    out = []
    for m in messages:
        topic = m.topic() or ""
        headers = tuple(sorted((k, names.get(v, v)) for k, v in (m.headers() or [])
                               if k not in _TIMELY))
        value: Any = m.value()
        if roles.get(topic) == "synced":
            event = decode_event(value or b"")
            fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)
                      if f.name not in ("synced_at", "event_id")}
            fields["version_source"] = names[fields["version_source"].encode()]
            value = repr(fields)
        out.append((roles.get(topic, topic), m.key(), m.partition(), headers, value))
    return sorted(out, key=repr)


def test_both_engines_write_the_same_outputs(
        kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path) -> None:
    realtime, bulk = _input()
    results = {}
    for engine in ("batched", "faust"):
        topics = make_topics(kafka_bootstrap, topic_factory)
        try:
            produce(kafka_bootstrap, topics.realtime, realtime)
            produce(kafka_bootstrap, topics.bulk, bulk)
            reader = Reader(kafka_bootstrap, f"reader-{uuid.uuid4().hex[:8]}",
                            [topics.synced, topics.deadletter])

            def done(messages: list[Message], t: Topics = topics) -> bool:
                dead = [m for m in messages if m.topic() == t.deadletter]
                return len(dead) == 1 and len(messages) >= 61

            app_id = f"test-contract-{uuid.uuid4().hex[:8]}"
            worker = Worker(kafka_bootstrap, topics, app_id, tmp_path, engine=engine)
            with running(worker):
                reader.read(done, 60)
                count = -1
                while count != len(reader.messages):  # until 3 s without a new output
                    count = len(reader.messages)
                    reader.read(lambda ms: len(ms) > count, 3)  # noqa: B023
            reader.close()
            assert done(reader.messages), f"{engine}: {len(reader.messages)} outputs"
            results[engine] = _outputs(reader.messages, topics, app_id)
            dead = [m for m in reader.messages if m.topic() == topics.deadletter]
            assert header_map(dead[0].headers()).get(H_REASON) == b"invalid"
        finally:
            drop_retry_topics(kafka_bootstrap, topics)
    assert len(results["faust"]) == len(results["batched"])
    for faust_out, batched_out in zip(results["faust"], results["batched"], strict=True):
        assert faust_out == batched_out
