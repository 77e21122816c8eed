"""End to end: a signed webhook's POST until its row is in PostgreSQL, on the whole system.

    python -m bench.e2e [--rate 500] [--duration-s 30] [--backfill 100000]

Starts the simulator and `tds up` (web, stream worker, projector, relay, pollers) against
the provisioned Kafka and PostgreSQL, then:

1. **steady**: webhooks (each a new item, Zoho's default JSON payload, HMAC-signed) at a
   constant open-loop rate; latency runs from each POST's *scheduled* send time until a
   watcher sees its audit-log row (the projector writes it in the row's transaction), so
   a stalled pipeline is not hidden by a stalled client;
2. **backfill**: `--backfill` polled snapshots published to `zoho.raw.bulk` at once (a full
   sync's backlog), then webhooks at `--backfill-rate` while that backlog drains: the
   realtime latency during the backfill, and the backfill's own drain rate.

The watcher polls the audit log every `--poll-ms` (the resolution of the latencies).
Writes bench/out/e2e.json (with a per-second timeline) and bench/out/e2e.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from confluent_kafka import Producer

from bench.streams.workload import ORG as BACKFILL_ORG
from bench.streams.workload import events as backfill_events
from bench.webhook.load import RawClient, percentile
from schemas.topics import RAW_BULK
from simulator.signing import SIGNATURE_HEADER, sign
from tds.kafka import producer_config
from tds.provision.common import Services
from tds.settings import find_services_env, load_env_file
from tests.support.pipeline import WEBHOOK_SECRET, running_system

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out"
ITEM = json.loads((ROOT / "tests" / "unit" / "streams" / "fixtures" / "items.json").read_text())
# Pollers out of the way: only the webhooks and the backfill move data during the run.
QUIET_POLLERS = {"TDS_RECONCILE_INTERVAL_MINUTES": "600", "TDS_FULL_SYNC_INTERVAL_HOURS": "1000",
                 "TDS_STOCK_SYNC_INTERVAL_MINUTES": "6000"}


class Webhooks:
    """Signed item webhooks, each a new record (so each makes exactly one audit row)."""

    def __init__(self, url: str, connections: int) -> None:
        self.client = RawClient(url, connections)
        self._n = 0
        self._tag = uuid.uuid4().int % 10**6

    def next(self) -> tuple[str, bytes]:
        """(item id, request bytes) of a fresh webhook."""
        self._n += 1
        item_id = f"{5_100_000_000_000 + self._tag * 10**6 + self._n}"
        record = {**ITEM, "item_id": item_id, "name": f"e2e item {self._n}",
                  "last_modified_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")}
        body = orjson.dumps({"item": record})
        query = [("action", "edited")]
        headers = {"Content-Type": "application/json;charset=UTF-8",
                   SIGNATURE_HEADER: sign(WEBHOOK_SECRET, query, [], body)}
        return item_id, self.client.request_bytes("action=edited", body, headers)


class Watcher:
    """Sees audit-log rows of the webhooks' org appear; records when each was first seen."""

    def __init__(self, dsn: str, org: str, poll_s: float) -> None:
        self._dsn, self._org, self._poll_s = dsn, org, poll_s
        self.pending: dict[str, float] = {}  # item id → scheduled send (wall clock)
        self.seen: dict[str, float] = {}
        self._stop = asyncio.Event()

    async def run(self) -> None:
        """Poll until stopped."""
        conn = await asyncpg.connect(self._dsn)
        try:
            while not self._stop.is_set():
                if self.pending:
                    since = datetime.fromtimestamp(min(self.pending.values()) - 1.0, UTC)
                    rows = await conn.fetch(
                        "SELECT entity_id FROM audit_log WHERE projected_at >= $1 AND "
                        "org_id = $2 AND entity_type = 'item'", since, self._org)
                    now = time.time()
                    for row in rows:
                        if self.pending.pop(row["entity_id"], None) is not None:
                            self.seen[row["entity_id"]] = now
                await asyncio.sleep(self._poll_s)
        finally:
            await conn.close()

    def stop(self) -> None:
        """End `run` after its current poll."""
        self._stop.set()


async def send_at(rate: float, duration_s: float, hooks: Webhooks, watcher: Watcher,
                  sent: dict[str, float], statuses: dict[str, int]) -> None:
    """Open loop: one webhook every 1/rate seconds for duration_s, never waiting for answers."""
    loop = asyncio.get_running_loop()
    total = int(rate * duration_s)
    start_mono, start_wall = loop.time() + 0.05, time.time() + 0.05
    tasks = []

    async def one(item_id: str, request: bytes) -> None:
        try:
            status = await hooks.client.post(request)
        except (OSError, asyncio.IncompleteReadError) as exc:
            status = type(exc).__name__
        statuses[status] = statuses.get(status, 0) + 1
        if status != "200":
            watcher.pending.pop(item_id, None)  # refused: it will never have a row

    for index in range(total):
        delay = start_mono + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        item_id, request = hooks.next()
        scheduled = start_wall + index / rate
        sent[item_id] = scheduled
        watcher.pending[item_id] = scheduled
        tasks.append(asyncio.create_task(one(item_id, request)))
    await asyncio.gather(*tasks)


async def wait_seen(watcher: Watcher, timeout_s: float) -> None:
    """Until every accepted webhook has its row (bounded)."""
    deadline = time.monotonic() + timeout_s
    while watcher.pending and time.monotonic() < deadline:  # noqa: ASYNC110  # bounded poll
        await asyncio.sleep(0.1)


def summary(sent: dict[str, float], seen: dict[str, float]) -> dict[str, Any]:
    """Latency percentiles (ms) of the webhooks that reached a row, and how many did not."""
    latencies = sorted((seen[i] - at) * 1000 for i, at in sent.items() if i in seen)
    return {"sent": len(sent), "rows": len(latencies), "missing": len(sent) - len(latencies),
            "p50_ms": percentile(latencies, 0.5), "p90_ms": percentile(latencies, 0.9),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": latencies[-1] if latencies else None}


def per_second(sent: dict[str, float], seen: dict[str, float], t0: float
               ) -> list[dict[str, Any]]:
    """Per second of send time: webhooks sent and their latency p50/p99."""
    buckets: dict[int, list[float]] = {}
    for item_id, at in sent.items():
        if item_id in seen:
            buckets.setdefault(int(at - t0), []).append((seen[item_id] - at) * 1000)
    return [{"t": t, "sent": len(v), "p50_ms": percentile(sorted(v), 0.5),
             "p99_ms": percentile(sorted(v), 0.99)} for t, v in sorted(buckets.items())]


async def rows_per_second(dsn: str, t0: float, orgs: dict[str, str]) -> dict[str, list[int]]:
    """Audit-log rows written per second since t0, per org (label → org id)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT org_id, floor(extract(epoch FROM projected_at) - $1)::int AS s, "
            "count(DISTINCT event_id) n "
            "FROM audit_log WHERE projected_at >= $2 AND org_id = ANY($3) GROUP BY 1, 2",
            t0, datetime.fromtimestamp(t0, UTC), list(orgs.values()))
    finally:
        await conn.close()
    out: dict[str, list[int]] = {}
    for label, org in orgs.items():
        counts = {r["s"]: r["n"] for r in rows if r["org_id"] == org}
        out[label] = [counts.get(s, 0) for s in range(max(counts, default=-1) + 1)]
    return out


async def backfill_rows(dsn: str, since: float) -> int:
    """Audit rows of the backfill's org since `since`."""
    conn = await asyncpg.connect(dsn)
    try:
        n: int = await conn.fetchval(
            "SELECT count(DISTINCT event_id) FROM audit_log WHERE org_id = $1 "
            "AND projected_at >= $2",
            BACKFILL_ORG, datetime.fromtimestamp(since, UTC))
        return n
    finally:
        await conn.close()


def publish_backfill(bootstrap: str, count: int) -> float:
    """`count` bulk snapshots into zoho.raw.bulk; returns the seconds it took."""
    producer = Producer(producer_config(bootstrap, **{"linger.ms": 20}))
    began = time.perf_counter()
    stream: Iterator[tuple[bytes, bytes]] = backfill_events(count, seed=uuid.uuid4().hex[:6])
    for n, (key, value) in enumerate(stream):
        while True:
            try:
                producer.produce(RAW_BULK, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
        if n % 1000 == 0:
            producer.poll(0)
    producer.flush(120)
    return time.perf_counter() - began


async def measure(services: Services, web: str, org: str, args: argparse.Namespace
                  ) -> dict[str, Any]:
    """Both phases against a running system."""
    dsn = services.database_url
    hooks = Webhooks(f"{web}/api/webhooks/zoho", args.connections)
    watcher = Watcher(dsn, org, args.poll_ms / 1000)
    watching = asyncio.create_task(watcher.run())
    statuses: dict[str, int] = {}
    try:
        warm: dict[str, float] = {}
        await send_at(20, 3, hooks, watcher, warm, {})  # connections, prepared plans, caches
        await wait_seen(watcher, 60)
        t0 = time.time()
        steady: dict[str, float] = {}
        await send_at(args.rate, args.duration_s, hooks, watcher, steady, statuses)
        await wait_seen(watcher, 60)
        result: dict[str, Any] = {"steady": {"rate": args.rate, "duration_s": args.duration_s,
                                             "statuses": dict(statuses),
                                             **summary(steady, watcher.seen)}}
        backfill: dict[str, Any] = {"events": args.backfill}
        during: dict[str, float] = {}
        b0 = time.time()
        if args.backfill:
            publisher = asyncio.to_thread(publish_backfill, services.kafka_bootstrap_servers,
                                          args.backfill)
            backfill["publish_s"] = await publisher
            deadline = time.monotonic() + args.backfill_timeout_s
            done = 0
            while time.monotonic() < deadline:
                await send_at(args.backfill_rate, 2.0, hooks, watcher, during, statuses)
                done = await backfill_rows(dsn, b0)
                if done >= args.backfill:
                    break
            backfill["rows"] = done
            backfill["drain_s"] = time.time() - b0
            backfill["drain_per_s"] = done / backfill["drain_s"]
            await wait_seen(watcher, 60)
        backfill["realtime"] = {"rate": args.backfill_rate, **summary(during, watcher.seen)}
        result["backfill"] = backfill
        rows = await rows_per_second(dsn, t0, {"webhooks": org, "backfill": BACKFILL_ORG})
        result["timeline"] = {
            "t0": t0, "backfill_starts_s": b0 - t0,
            "latency": per_second({**steady, **during}, watcher.seen, t0),
            "rows_per_s": rows}
        return result
    finally:
        watcher.stop()
        await watching
        await hooks.client.close()


def markdown(doc: dict[str, Any]) -> str:
    """The human-readable report."""
    s, b = doc["steady"], doc["backfill"]
    rt = b["realtime"]
    lines = [
        "# End to end: webhook → row", "",
        f"{doc['when']} · {doc['cpus']} CPUs · load before {doc['load_before']} · after "
        f"{doc['load_after']} · `tds up` with {doc['workers']} worker(s) and "
        f"{doc['projectors']} projector(s); latency = scheduled POST → audit row seen "
        f"(polled every {doc['poll_ms']} ms)", "",
        "| phase | webhooks/s | sent | rows | missing | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| steady | {s['rate']:.0f} | {s['sent']} | {s['rows']} | {s['missing']} | "
        f"{s['p50_ms']:.0f} | {s['p90_ms']:.0f} | {s['p99_ms']:.0f} | {s['max_ms'] or 0:.0f} |",
        f"| during a {b['events']:,}-event backfill | {rt['rate']:.0f} | {rt['sent']} | "
        f"{rt['rows']} | {rt['missing']} | {rt['p50_ms']:.0f} | {rt['p90_ms']:.0f} | "
        f"{rt['p99_ms']:.0f} | {rt['max_ms'] or 0:.0f} |", ""]
    if b.get("rows") is not None:
        lines.append(f"Backfill: {b['events']:,} bulk events published in "
                     f"{b['publish_s']:.1f} s; {b['rows']:,} rows in {b['drain_s']:.1f} s "
                     f"({b['drain_per_s']:,.0f} rows/s through worker and projector).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Start the system, measure, write the reports."""
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0, help="steady webhooks/s")
    parser.add_argument("--duration-s", type=float, default=30.0)
    parser.add_argument("--backfill", type=int, default=100_000, help="bulk events (0: skip)")
    parser.add_argument("--backfill-rate", type=float, default=50.0,
                        help="webhooks/s while the backfill drains")
    parser.add_argument("--backfill-timeout-s", type=float, default=600.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--projectors", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--poll-ms", type=float, default=20.0)
    args = parser.parse_args(argv)
    env_file = find_services_env(ROOT)
    if env_file is not None:
        load_env_file(env_file)
    services = Services(kafka_bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
                        database_url=os.environ["DATABASE_URL"])
    org = str(random.SystemRandom().randrange(10**10, 10**11))
    load_before = [round(x, 2) for x in os.getloadavg()]
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "e2e-tds.log"
    log.unlink(missing_ok=True)
    with running_system(services, org=org, workers=args.workers, projectors=args.projectors,
                        sim_args=("--items", "5", "--contacts", "2", "--salesorders", "2",
                                  "--invoices", "2"),
                        extra_env=QUIET_POLLERS, log=log) as system:
        doc = asyncio.run(measure(services, system.webhook_url, org, args))
    doc.update(when=datetime.now(UTC).isoformat(timespec="seconds"), cpus=os.cpu_count(),
               load_before=load_before, load_after=[round(x, 2) for x in os.getloadavg()],
               workers=args.workers, projectors=args.projectors, poll_ms=args.poll_ms)
    (OUT / "e2e.json").write_text(json.dumps(doc, indent=2))
    (OUT / "e2e.md").write_text(markdown(doc))
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
