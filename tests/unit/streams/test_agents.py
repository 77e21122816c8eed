"""The faust agents in faust's test context (memory store, no broker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from schemas.cloudevents import Headers
from schemas.events import EntitySynced, SyncRunEvent, decode_event
from streams.app import StreamsApp
from streams.config import StreamsConfig
from tds.metrics import Metrics
from tests.unit.streams.builders import item, raw
from tests.unit.streams.test_pipeline import Fetcher

NOW = datetime(2025, 11, 14, tzinfo=UTC)


class Recorder:
    """Stands in for the Emitter: keeps what the agents send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, Headers | None]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   headers: Headers | None, *, partition: int | None = None,
                   source: Any = None) -> None:
        self.sent.append((topic, key, value, headers))

    def to(self, topic: str) -> list[tuple[bytes | None, bytes | None]]:
        return [(k, v) for t, k, v, _ in self.sent if t == topic]


@pytest.fixture
async def streams() -> AsyncIterator[StreamsApp]:
    config = StreamsConfig(bootstrap="127.0.0.1:1", app_id="unit", store="memory://",
                           data_dir="/tmp/tds-unit-streams")
    app = StreamsApp(config, fetcher=Fetcher(), metrics=Metrics.create(), clock=lambda: NOW)
    app.emitter = Recorder()  # type: ignore[assignment]  # a stub with the same send()
    app.app.finalize()
    yield app
    # The test context builds a consumer whose thread loop never runs: close it.
    consumer = app.app._consumer
    thread = getattr(consumer, "_thread", None)
    if thread is not None:
        thread.thread_loop.close()


async def test_realtime_agent_emits_and_counts(streams: StreamsApp) -> None:
    recorder: Recorder = streams.emitter  # type: ignore[assignment]
    agent = streams.app.agents["realtime"]
    async with agent.test_context() as context:
        event = raw("item", item("1"), source="poll.full", kind="snapshot", run="r1")
        await context.put(event.encode(), key=b"k")
        await context.put(event.encode(), key=b"k")  # the same body again: skipped
        await context.put(b"not avro", key=b"k")  # poison: dead letter
    out = recorder.to(streams.config.synced_topic)
    assert len(out) == 1
    synced = decode_event(out[0][1] or b"")
    assert isinstance(synced, EntitySynced) and synced.entity_id == "1"
    assert [t for t, *_ in recorder.sent].count(streams.config.deadletter_topic) == 1
    counts = [orjson.loads(v or b"")["o"] for _, v in recorder.to(streams.config.ledger_topic)]
    assert counts == ["changed", "unchanged"]
    metrics = streams.metrics.registry
    assert metrics.get_sample_value("tds_events_skipped_total",
                                    {"entity_type": "item", "reason": "duplicate"}) == 1
    assert metrics.get_sample_value("tds_dead_letters_total",
                                    {"stage": "streams", "reason": "invalid"}) == 1


async def test_ledger_agent_closes_a_run(streams: StreamsApp) -> None:
    recorder: Recorder = streams.emitter  # type: ignore[assignment]
    from streams.runs import count_message, poller_message

    done = SyncRunEvent(event_id="p", run_id="r9", status="completed", run_type="stock",
                        source="zoho", org_id="42", entity_types=["stock"], at=NOW,
                        started_at=NOW, sent=2)
    async with streams.app.agents["ledger"].test_context() as context:
        for outcome in ("changed", "unchanged"):
            await context.put(count_message("r9", outcome, "poll.stock", "42", 1), key=b"r9")
        await context.put(poller_message(done, 2), key=b"r9")
    runs = recorder.to(streams.config.sync_runs_topic)
    assert len(runs) == 1
    event = decode_event(runs[0][1] or b"")
    assert isinstance(event, SyncRunEvent)
    assert (event.status, event.seen, event.changed, event.unchanged) == ("completed", 2, 1, 1)
    assert runs[0][0] == b"42:sync_run:r9"
