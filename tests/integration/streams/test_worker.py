"""A real worker on the real broker: ordering, duplicates, runs, poison, backlog."""

from __future__ import annotations

import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Message, Producer

from schemas.cloudevents import ce_headers, header_map
from schemas.events import RawEvent, SyncRunEvent, decode_event
from schemas.topics import entity_key
from tds.kafka import producer_config
from tests.integration.streams.support import Reader, Topics, Worker, produce, running, synced
from tests.unit.streams.builders import ORG, T0, item, raw

BACKLOG = int(os.environ.get("TDS_TEST_BULK_BACKLOG", "100000"))


def _publish_run(bootstrap: str, topic: str, run_id: str, status: str, sent: int = 0) -> None:
    event = SyncRunEvent(event_id=str(uuid.uuid4()), run_id=run_id, status=status,
                         run_type="full", source="zoho", org_id=ORG, entity_types=["item"],
                         at=datetime.now(UTC), started_at=datetime.now(UTC), sent=sent)
    producer = Producer(producer_config(bootstrap))
    producer.produce(topic, key=entity_key(ORG, "sync_run", run_id), value=event.encode(),
                     headers=ce_headers(f"tds.sync.{status}", "/tds/pollers",
                                        event_id=event.event_id))
    assert producer.flush(30) == 0


def test_out_of_order_and_duplicate_deliveries_end_in_the_latest_state(
        engine: str, kafka_bootstrap: str, stream_topics: Topics, tmp_path: Path) -> None:
    rng = random.Random(7)
    keys, versions = [f"k{i}" for i in range(20)], 4
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    realtime: list[RawEvent] = []
    bulk: list[RawEvent] = []
    for entity_id in keys:
        for v in range(versions):
            record = item(entity_id, name=f"v{v}", modified=T0 + timedelta(seconds=v))
            for copy in range(2):  # every version twice: a webhook retry, or webhook + poll
                if rng.random() < 0.5 or copy:
                    bulk.append(raw("item", record, source="poll.full", kind="snapshot",
                                    run=run_id, received=T0 + timedelta(seconds=v, minutes=1)))
                else:
                    realtime.append(raw("item", record))
    rng.shuffle(realtime)
    rng.shuffle(bulk)
    _publish_run(kafka_bootstrap, stream_topics.runs, run_id, "started")
    produce(kafka_bootstrap, stream_topics.realtime, realtime)
    produce(kafka_bootstrap, stream_topics.bulk, bulk)
    _publish_run(kafka_bootstrap, stream_topics.runs, run_id, "completed", sent=len(bulk))

    worker = Worker(kafka_bootstrap, stream_topics, f"test-order-{uuid.uuid4().hex[:8]}",
                    tmp_path, engine=engine)
    reader = Reader(kafka_bootstrap, f"reader-{uuid.uuid4().hex[:8]}",
                    [stream_topics.synced, stream_topics.runs])

    def finished(messages: list[Message]) -> bool:
        latest = {e.entity_id: e for e in synced(reader.messages, stream_topics.synced)}
        closed = [m for m in reader.messages if m.topic() == stream_topics.runs
                  and header_map(m.headers()).get("ce_source") == b"/tds/streams"]
        return (len(latest) == len(keys) and closed != []
                and all(e.record is not None and e.record["name"] == f"v{versions - 1}"
                        for e in latest.values()))

    with running(worker):
        reader.read(finished, timeout_s=90)
    reader.close()
    assert finished(reader.messages), f"only {len(reader.messages)} messages"
    assert worker.process is not None and worker.process.returncode == 0, worker.logs()
    by_key: dict[str, list[tuple[datetime, int]]] = {}
    for event in synced(reader.messages, stream_topics.synced):
        by_key.setdefault(event.entity_id, []).append(
            (event.version_modified_at, event.version_offset))
    for entity_id, emitted in by_key.items():
        assert emitted == sorted(set(emitted)), f"{entity_id} went backwards: {emitted}"
        assert len(emitted) <= versions
    closing = [decode_event(m.value() or b"") for m in reader.messages
               if m.topic() == stream_topics.runs
               and header_map(m.headers()).get("ce_source") == b"/tds/streams"]
    run = closing[0]
    assert isinstance(run, SyncRunEvent)
    assert (run.run_id, run.status, run.seen, run.sent) == (run_id, "completed", len(bulk),
                                                           len(bulk))
    assert run.changed + run.unchanged + run.failed + run.deleted == run.seen
    assert run.changed >= 1 and run.unchanged >= len(bulk) - len(keys) * versions


def test_poison_reaches_the_dead_letters_after_n_attempts_while_others_flow(
        engine: str, kafka_bootstrap: str, stream_topics: Topics, tmp_path: Path) -> None:
    import threading

    from consumers.relay import Relay, RelayConfig

    worker = Worker(kafka_bootstrap, stream_topics, f"test-poison-{uuid.uuid4().hex[:8]}",
                    tmp_path, fetcher_records={"records": {}, "broken": ["666"]},
                    retry_backoff_s=0.3, engine=engine)
    relay = Relay(RelayConfig(kafka_bootstrap,
                              tuple(stream_topics.retry(n) for n in range(1, 4)),
                              group=f"relay-{uuid.uuid4().hex[:8]}", poll_timeout_s=0.2))
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    levels = [stream_topics.retry(n) for n in range(1, 4)]
    reader = Reader(kafka_bootstrap, f"reader-{uuid.uuid4().hex[:8]}",
                    [stream_topics.synced, stream_topics.deadletter, *levels])
    poison = raw("item", body=b'{"item": {"item_id": "666"}}', entity_id="666")
    with running(worker):
        thread.start()
        produce(kafka_bootstrap, stream_topics.realtime, [poison])
        for n in range(5):  # other keys keep flowing while the poison is retried
            produce(kafka_bootstrap, stream_topics.realtime, [raw("item", item(str(n)))])
        reader.read(lambda ms: {m.topic() for m in ms} >= {stream_topics.deadletter, *levels},
                    90)
    stop.set()
    thread.join(30)
    reader.close()
    dead = [m for m in reader.messages if m.topic() == stream_topics.deadletter]
    good = [m for m in reader.messages if m.topic() == stream_topics.synced]
    assert len(dead) == 1 and len(good) == 5
    letter = dead[0]
    assert (letter.key(), letter.value()) == (entity_key(ORG, "item", "666"), poison.encode())
    found = header_map(letter.headers())
    assert found["ce_type"] == b"tds.deadletter.added"
    assert found["tds_attempt"] == b"3" and found["tds_deadletter_reason"] == b"exhausted"
    assert found["tds_original_topic"] == stream_topics.realtime.encode()
    for name in ("tds_original_partition", "tds_original_offset", "tds_original_timestamp_ms",
                 "tds_consumer_group", "tds_stage", "tds_first_failure_at",
                 "tds_error_class", "tds_error_message", "tds_error_trace"):
        assert found.get(name), name
    assert found["tds_error_class"] == b"FetchFailed"
    assert b"simulated Zoho outage" in found["tds_error_message"]
    assert len([n for n, _ in letter.headers() or ()]) == len(found)  # replaced, not appended
    # Through every level of the delayed-retry chain, once each, with its due time (that the
    # relay never delivers before it is tests/integration/relay's)...
    retried = [m for m in reader.messages if m.topic() in levels]
    assert sorted(str(m.topic()) for m in retried) == levels
    assert all(header_map(m.headers()).get("tds_due_at") for m in retried)
    # ...while the good keys did not wait for it: all out before the dead letter.
    assert reader.messages.index(letter) > max(reader.messages.index(m) for m in good)


@pytest.mark.slow
def test_a_bulk_backlog_does_not_delay_realtime_events(
        engine: str, kafka_bootstrap: str, stream_topics: Topics, tmp_path: Path) -> None:
    backlog = [raw("item", item(f"b{n}"), source="poll.full", kind="snapshot")
               for n in range(BACKLOG)]
    produce(kafka_bootstrap, stream_topics.bulk, backlog)
    worker = Worker(kafka_bootstrap, stream_topics, f"test-backlog-{uuid.uuid4().hex[:8]}",
                    tmp_path, guarantee="at_least_once", engine=engine)
    reader = Reader(kafka_bootstrap, f"reader-{uuid.uuid4().hex[:8]}", [stream_topics.synced])
    warm = Producer(producer_config(kafka_bootstrap, **{"linger.ms": 1}))
    produce(kafka_bootstrap, stream_topics.runs, [raw("item", item("warm-up"))], producer=warm)
    with running(worker):
        # Wait until the worker is busy with the backlog, then send webhooks one by one.
        reader.read(lambda ms: len(ms) >= 500, 60)
        for n in range(20):
            produce(kafka_bootstrap, stream_topics.realtime, [raw("item", item(f"rt{n}"))],
                    producer=warm)
            wanted = entity_key(ORG, "item", f"rt{n}")

            def arrived(messages: list[Message], wanted: bytes = wanted) -> bool:
                return any(m.key() == wanted for m in messages[-2000:])

            reader.read(arrived, 30)
            assert arrived(reader.messages), f"webhook rt{n} did not come through"
        bulk_done_when_realtime_done = sum(
            1 for m in reader.messages if (m.key() or b"").split(b":")[-1].startswith(b"b"))
    reader.close()
    # Every webhook passed the backlog: all 20 were out before the bulk events were. (How
    # fast is bench/streams' to report, not a test's to assert: timings on a shared box.)
    assert bulk_done_when_realtime_done < BACKLOG, "the backlog was gone: nothing was proven"


def test_faust_reports_its_groups_lag_under_the_tds_name(
        kafka_bootstrap: str, stream_topics: Topics, tmp_path: Path) -> None:
    """Faust's view of the group's lag, taken at its commits, is on the worker's /metrics
    as tds_consumer_lag_messages (by group, topic, partition)."""
    import socket
    from urllib.request import urlopen

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    produce(kafka_bootstrap, stream_topics.bulk,
            [raw("item", item(f"m{n}"), source="poll.full", kind="snapshot") for n in range(50)])
    app_id = f"test-lag-{uuid.uuid4().hex[:8]}"
    worker = Worker(kafka_bootstrap, stream_topics, app_id, tmp_path, engine="faust",
                    extra_args=["--metrics-port", str(port), "--commit-interval", "0.5"])
    reader = Reader(kafka_bootstrap, f"reader-{uuid.uuid4().hex[:8]}", [stream_topics.synced])
    labels = f'group="{app_id}",partition="0",topic="{stream_topics.bulk}"'
    wanted = f"tds_consumer_lag_messages{{{labels}}} 0.0"
    text = ""
    with running(worker):
        reader.read(lambda ms: len(ms) >= 50, 60)
        deadline = time.monotonic() + 30
        while wanted not in text and time.monotonic() < deadline:
            time.sleep(0.5)
            text = urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    reader.close()
    assert wanted in text, [line for line in text.splitlines() if "lag" in line]
