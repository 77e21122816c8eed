"""Workers as subprocesses, unique topics, producing raw events and reading outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from schemas.cloudevents import ce_headers
from schemas.events import EntitySynced, RawEvent, decode_event
from schemas.topics import entity_key
from tds.kafka import client_config, consumer_config, producer_config

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Topics:
    """One test's topics."""

    realtime: str
    bulk: str
    synced: str
    runs: str
    deadletter: str
    retry_prefix: str
    retries: int

    def retry(self, level: int) -> str:
        return f"{self.retry_prefix}{level}"


def make_topics(bootstrap: str, topic_factory: Callable[..., str], *, partitions: int = 3,
                retries: int = 3) -> Topics:
    """Create every topic a worker needs, uniquely named (retry levels share a prefix)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    names = {n: topic_factory(n, partitions=partitions)
             for n in ("raw-rt", "raw-bulk", "synced", "runs", "dlq")}
    prefix = f"test.retry-{uuid.uuid4().hex[:10]}."
    admin = AdminClient(client_config(bootstrap))
    levels = [f"{prefix}{level}" for level in range(1, retries + 1)]
    for future in admin.create_topics([NewTopic(t, partitions, 1) for t in levels]).values():
        future.result(timeout=30)
    # Created is not yet in the broker's metadata: a consumer that subscribes before then
    # sees an unknown topic and looks again only minutes later (a test's reader missed
    # every retry level that way).
    deadline = time.monotonic() + 30
    while not set(levels) <= set(admin.list_topics(timeout=10).topics):
        assert time.monotonic() < deadline, f"retry topics not in the metadata: {levels}"
        time.sleep(0.1)
    return Topics(names["raw-rt"], names["raw-bulk"], names["synced"], names["runs"],
                  names["dlq"], prefix, retries)


def drop_retry_topics(bootstrap: str, topics: Topics) -> None:
    """Delete the retry levels `make_topics` created outside the factory."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(client_config(bootstrap))
    names = [topics.retry(level) for level in range(1, topics.retries + 1)]
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result(timeout=30)


@dataclass
class Worker:
    """`tds worker` in a subprocess; logs go to a file under `log_dir`."""

    bootstrap: str
    topics: Topics
    app_id: str
    log_dir: Path
    guarantee: str = "at_least_once"
    engine: str = "faust"
    fetcher_records: dict[str, Any] | None = None
    retry_backoff_s: float = 0.3
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = None

    def start(self) -> Worker:
        self.starts += 1
        env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
                   TDS_RETRY_MAX_ATTEMPTS=str(self.topics.retries),
                   TDS_RETRY_BACKOFF_SECONDS=str(self.retry_backoff_s),
                   TDS_LOG_LEVEL="INFO", PYTHONPATH=str(ROOT))
        args = [sys.executable, "-m", "tds.cli", "worker", "--app-id", self.app_id,
                "--engine", self.engine, "--guarantee", self.guarantee,
                "--session-timeout", "6",
                "--realtime-topic", self.topics.realtime, "--bulk-topic", self.topics.bulk,
                "--synced-topic", self.topics.synced, "--sync-runs-topic", self.topics.runs,
                "--deadletter-topic", self.topics.deadletter,
                "--retry-prefix", self.topics.retry_prefix, *self.extra_args]
        if self.fetcher_records is not None:
            path = self.log_dir / f"{self.app_id}-records.json"
            path.write_text(json.dumps(self.fetcher_records))
            env["TDS_TEST_FETCHER_RECORDS"] = str(path)
            args += ["--fetcher", "tests.integration.streams.fetchers:open_fetcher"]
        self._close_log()
        self._log = open(self.log_dir / f"{self.app_id}-{id(self)}-{self.starts}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        return self

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no commit, no flush."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:]
                         for p in sorted(self.log_dir.glob(f"{self.app_id}-*.log")))


@contextmanager
def running(*workers: Worker) -> Iterator[tuple[Worker, ...]]:
    """Start the workers; stop them (and show their logs on failure) afterwards."""
    for worker in workers:
        worker.start()
    try:
        yield workers
    except BaseException:
        for worker in workers:
            print(worker.logs())
        raise
    finally:
        for worker in workers:
            worker.stop()


def produce(bootstrap: str, topic: str, events: Iterable[RawEvent], *,
            headers: list[tuple[str, str | bytes]] | None = None,
            producer: Producer | None = None) -> int:
    """Publish raw events as the gateway and pollers do (keyed by record); pass a warm
    `producer` to time deliveries (a new idempotent one needs ~0.5 s to start)."""
    producer = producer or Producer(producer_config(bootstrap, **{"linger.ms": 5}))
    count = 0
    for event in events:
        key = entity_key(event.org_id, event.entity_type, event.entity_id or "none")
        producer.produce(topic, key=key, value=event.encode(),
                         headers=headers or ce_headers("zoho.webhook.received", "/test",
                                                       event_id=event.event_id))
        count += 1
        if count % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    return count


class Reader:
    """A read_committed consumer from the beginning of some topics."""

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self.consumer = Consumer(consumer_config(bootstrap, group))
        self.consumer.subscribe(topics)
        self.messages: list[Message] = []
        self.arrived: list[float] = []

    def read(self, until: Callable[[list[Message]], bool], timeout_s: float) -> list[Message]:
        """Collect messages until `until(all so far)` or the timeout; returns all so far."""
        deadline = time.monotonic() + timeout_s
        while not until(self.messages) and time.monotonic() < deadline:
            for message in self.consumer.consume(500, 0.2):
                if message.error() is None:
                    self.messages.append(message)
                    self.arrived.append(time.time())
        return self.messages

    def close(self) -> None:
        self.consumer.close()


def wait_committed(bootstrap: str, group: str, topic: str, timeout_s: float) -> None:
    """Wait (bounded) until `group` committed the end of every partition of `topic`: every
    event was processed, which a quiet output topic does not say (unchanged records emit
    nothing)."""
    consumer = Consumer(client_config(bootstrap, **{"group.id": group,
                                                    "enable.auto.commit": False}))
    try:
        tps = [TopicPartition(topic, p)
               for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions]
        deadline = time.monotonic() + timeout_s
        while True:
            ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
            done = [tp.offset for tp in consumer.committed(tps, timeout=10)]
            if done == ends:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{group} committed {done} of {ends} on {topic}")
            time.sleep(0.2)
    finally:
        consumer.close()


def synced(messages: Iterable[Message], topic: str) -> list[EntitySynced]:
    """The tds.entity.synced events among `messages`, in arrival order."""
    out = []
    for message in messages:
        if message.topic() == topic:
            event = decode_event(message.value() or b"")
            assert isinstance(event, EntitySynced)
            out.append(event)
    return out
