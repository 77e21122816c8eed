"""What TLS and SASL cost: producer and consumer throughput over SASL_SSL (SCRAM-SHA-512)
beside plaintext, on one private broker that has both listeners, in alternating rounds.

    python -m bench.kafka_tls [--messages 200000] [--size 300] [--rounds 5]
                              [--worker-events 30000]

Each round sends `--messages` records of `--size` bytes with TDS's producer settings
(idempotent, acks=all, lz4) to a fresh 6-partition topic, waits for every acknowledgement,
then reads them back with TDS's consumer settings; then one `tds worker` (faust engine)
works through a backlog of `--worker-events` raw events as in bench/streams (0: skip). The
broker is started under a temporary
folder and stopped afterwards (the shared one is not touched). Writes
bench/out/kafka_tls.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench.report.kafka_tls import section
from bench.report.runner import OUT
from bench.streams.__main__ import run_workers
from tds import kafka
from tds.kafka import admin_config, consumer_config, producer_config, read_to_end
from tds.kafka_security import KafkaSecurity
from tds.provision.kafka import private_node
from tds.provision.kafka_tls import MECHANISM, USERNAME
from tds.secret import Secret

PARTITIONS = 6
PHASE_TIMEOUT_S = 300.0  # every phase is bounded: a stuck broker ends the run


def _payloads(count: int, size: int) -> list[bytes]:
    """JSON-ish records padded to `size` bytes, compressible as real events are."""
    out = []
    for i in range(count):
        body = orjson.dumps({"item_id": str(10**12 + i), "name": f"Item {i}", "rate": i % 997,
                             "status": "active", "sku": f"SKU-{i:08d}"})
        out.append(body + b" " * max(0, size - len(body)))
    return out


def _produce(bootstrap: str, topic: str, payloads: list[bytes]) -> float:
    """Seconds from the first send to the last acknowledgement."""
    producer = Producer(producer_config(bootstrap, **{"client.id": "bench-tls"}))
    failed: list[str] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    started = time.perf_counter()
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    for i, payload in enumerate(payloads):
        while True:
            try:
                producer.produce(topic, payload, key=str(i).encode(), on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)  # the local queue is full: let acknowledgements drain it
            if time.monotonic() > deadline:
                raise TimeoutError("producing took longer than the phase timeout")
        producer.poll(0)
    if producer.flush(max(1.0, deadline - time.monotonic())) != 0:
        raise TimeoutError("acknowledgements still missing at the phase timeout")
    elapsed = time.perf_counter() - started
    if failed:
        raise RuntimeError(f"{len(failed)} deliveries failed, e.g. {failed[0]}")
    return elapsed


def _consume(bootstrap: str, topic: str, count: int) -> float:
    """Seconds to read `count` records back from the beginning of every partition."""
    consumer = Consumer(consumer_config(bootstrap, f"bench-tls-{uuid.uuid4().hex[:8]}"))
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                for p in range(PARTITIONS)}
        started = time.perf_counter()
        seen = 0
        for batch in read_to_end(consumer, topic, {p: (OFFSET_BEGINNING, end)
                                                   for p, end in ends.items()},
                                 deadline=time.monotonic() + PHASE_TIMEOUT_S):
            seen += len(batch)
        elapsed = time.perf_counter() - started
    finally:
        consumer.close()
    if seen != count:
        raise RuntimeError(f"read {seen} records back, sent {count}")
    return elapsed


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used: contention on a shared machine
    stretches wall time, not this."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _round(bootstrap: str, security: KafkaSecurity, payloads: list[bytes],
           broker_pid: int) -> dict[str, float]:
    kafka.use_security(security)
    admin = AdminClient(admin_config(bootstrap))
    topic = f"bench.tls.{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=30)
    count, row = len(payloads), {}
    phases: tuple[tuple[str, Callable[[], float]], ...] = (
        ("produce", lambda: _produce(bootstrap, topic, payloads)),
        ("consume", lambda: _consume(bootstrap, topic, count)))
    try:
        for phase, work in phases:
            client, broker = time.process_time(), _cpu_s(broker_pid)
            row[f"{phase}_per_s"] = count / work()
            row[f"{phase}_client_cpu_us"] = (time.process_time() - client) / count * 1e6
            row[f"{phase}_broker_cpu_us"] = (_cpu_s(broker_pid) - broker) / count * 1e6
    finally:
        admin.delete_topics([topic])[topic].result(timeout=30)
    return row


def _worker_round(bootstrap: str, security: KafkaSecurity, env: dict[str, str],
                  count: int) -> dict[str, float]:
    """One `tds worker` through a backlog of `count`, its settings from `env`."""
    kafka.use_security(security)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)  # the worker process inherits the environment
    try:
        result = run_workers(bootstrap, AdminClient(admin_config(bootstrap)), count=count,
                             partitions=PARTITIONS, seed=uuid.uuid4().hex[:6], processes=1,
                             guarantee="at_least_once")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if result.outputs < count:
        raise RuntimeError(f"the worker emitted {result.outputs} of {count} events")
    return {"worker_per_s": result.events_per_s,
            "worker_cpu_us": result.cpu_us_per_event or float("nan")}


def run(messages: int, size: int, rounds: int, worker_events: int) -> dict[str, Any]:
    """Alternate plaintext and SASL_SSL rounds on one private broker."""
    payloads = _payloads(messages, size)
    results: dict[str, list[dict[str, float]]] = {"plaintext": [], "sasl_ssl": []}
    with tempfile.TemporaryDirectory(prefix="tds-bench-tls-") as root, \
            private_node(Path(root), secure=True) as node:
        listener = node.secure
        assert listener is not None
        secure = KafkaSecurity(protocol="SASL_SSL", ca_file=str(listener.ca_file),
                               sasl_mechanism=MECHANISM, username=USERNAME,
                               password=Secret(listener.password_file.read_text()))
        modes = {"plaintext": (node.bootstrap, KafkaSecurity()),
                 "sasl_ssl": (listener.bootstrap, secure)}
        envs = {"plaintext": {"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"},
                "sasl_ssl": {k: v for k, v in listener.client_env().items()
                             if k != "KAFKA_BOOTSTRAP_SERVERS"}}
        try:
            for bootstrap, security in modes.values():  # warm-up: connections, coordinators
                _round(bootstrap, security, payloads[:2000], node.pid)
            for n in range(rounds):
                # Each mode goes first every other round: neither gains from going second.
                for name in sorted(modes, reverse=n % 2 == 1):
                    bootstrap, security = modes[name]
                    row = _round(bootstrap, security, payloads, node.pid)
                    if worker_events:
                        row.update(_worker_round(bootstrap, security, envs[name],
                                                 worker_events))
                    results[name].append(row)
        finally:
            kafka.use_security(KafkaSecurity())
    keys = list(results["plaintext"][0])
    summary: dict[str, Any] = {name: {key: statistics.median(r[key] for r in runs)
                                      for key in keys} for name, runs in results.items()}
    summary["ratio"] = {key: summary["sasl_ssl"][key] / summary["plaintext"][key]
                        for key in keys}
    return {"messages": messages, "size_bytes": size, "rounds": rounds,
            "worker_events": worker_events,
            "mechanism": MECHANISM, "runs": results, **summary,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "at": datetime.now(UTC).isoformat(timespec="seconds")}


def main() -> None:
    """Parse the arguments, run, write bench/out/kafka_tls.{json,md}."""
    parser = argparse.ArgumentParser(prog="python -m bench.kafka_tls", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--worker-events", type=int, default=30_000)
    args = parser.parse_args()
    if not (1 <= args.messages <= 2_000_000 and 1 <= args.rounds <= 10
            and 0 <= args.worker_events <= 500_000):
        parser.error("--messages must be 1-2000000, --rounds 1-10, --worker-events 0-500000")
    doc = run(args.messages, args.size, args.rounds, args.worker_events)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "kafka_tls.json").write_text(json.dumps(doc, indent=2))
    text = "\n".join(["# Kafka: SASL_SSL beside plaintext", "", *section(doc)])
    (OUT / "kafka_tls.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
