"""Write-back throughput and latency against Zoho's write bound, beside a plain client.

    python -m bench.outbound [--commands 100] [--latency-commands 30]

Needs Kafka and PostgreSQL (`make up`). Starts the simulator at Zoho's default limits
(100 requests/min) and `tds writer` on fresh topics, group and schema, then:
1. throughput: `--commands` sales-order creates produced at once; wall time from the first
   produce to the last `applied`, against the bound (one call per create, 100 a minute),
   and the 429s the simulator answered;
2. latency: `--latency-commands` creates at one a second (under the bound): command →
   applied in PostgreSQL → its result consumed from `tds.outbound.results`, p50 / p99;
3. the peer: the same creates sent by the same Zoho client directly (no Kafka, no
   PostgreSQL) on a fresh simulator: its wall time, and TDS's overhead ratio.
Writes bench/out/outbound.json and bench/out/outbound.md. Bounded: a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from bench.report.outbound import section
from producers.zoho.client import ZohoClient
from producers.zoho.tokens import MemoryTokenStore
from schemas.events import decode_event
from schemas.outbound import OutboundCommand, OutboundResult, validate_command
from tds.commands.migrate import MIGRATIONS
from tds.kafka import producer_config
from tds.kafka_publisher import Publisher
from tds.migrate import apply
from tds.settings import Settings, find_services_env, load_env_file
from tests.support.pipeline import free_port, http, wait_http

OUT = Path(__file__).resolve().parents[1] / "out"
PER_MINUTE = 100  # Zoho's documented per-minute limit, the simulator's default


def _simulator(org: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", str(port), "--org-id", org,
         "--items", "40", "--contacts", "20", "--salesorders", "5", "--invoices", "5",
         "--log-level", "WARNING"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/_sim/credentials", 60)
    return process, base


def _start_writer(schema: str, suffix: str, topics: dict[str, str],
                  env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`tds writer` at Zoho's pace (its default --per-minute 100) on the bench's topics."""
    return subprocess.Popen(
        [sys.executable, "-m", "tds.cli", "writer", "--schema", schema,
         "--group", f"bench-writer-{suffix}", "--outbound-topic", topics["outbound"],
         "--results-topic", topics["results"], "--raw-topic", topics["raw"],
         "--retry-topic-prefix", f"bench-{suffix}."], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _zoho_env(base: str, org: str) -> dict[str, str]:
    creds = http("GET", f"{base}/_sim/credentials")
    return {"ZOHO_API_BASE": base, "ZOHO_CLIENT_ID": creds["client_id"],
            "ZOHO_CLIENT_SECRET": creds["client_secret"],
            "ZOHO_REFRESH_TOKEN": creds["refresh_token"], "ZOHO_ORGANIZATION_ID": org}


def _order_fields(base: str) -> dict[str, Any]:
    contacts = http("GET", f"{base}/_sim/state/contacts")["records"]
    customer = next(i for i, c in contacts.items() if c["contact_type"] == "customer")
    item = next(iter(http("GET", f"{base}/_sim/state/items")["records"]))
    return {"customer_id": customer, "line_items": [{"item_id": item, "quantity": 1}]}


def _rate_limited(base: str) -> int:
    """429s answered so far (codes 44, 45 and 1070)."""
    return sum(int(n) for n in http("GET", f"{base}/_sim/stats")["rate_limited"].values())


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _wait_applied(pool: asyncpg.Pool, ids: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = await pool.fetchval("SELECT count(*) FROM outbound_commands WHERE status IN "
                                   "('applied', 'rejected', 'conflict') "
                                   "AND command_id = ANY($1::text[])", ids)
        if done == len(ids):
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"commands not finished in {timeout_s:.0f} s")


def _result_times(bootstrap: str, topic: str, count: int, timeout_s: float) -> dict[str, float]:
    """When each result was written (Kafka timestamps, ms → s), by command id."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    out: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            result = decode_event(message.value() or b"")
            if isinstance(result, OutboundResult):
                out[result.command_id] = message.timestamp()[1] / 1000
    finally:
        consumer.close()
    return out


async def _tds(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    org = "1" + uuid.uuid4().hex[:9].translate(str.maketrans("abcdef", "123456"))
    sim, base = _simulator(org)
    schema = f"bench_outbound_{uuid.uuid4().hex[:8]}"
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"bench.{name}.{suffix}" for name in ("outbound", "results", "raw")}
    admin = AdminClient({"bootstrap.servers": settings.kafka})
    for future in admin.create_topics([NewTopic(t, 3, 1) for t in topics.values()]).values():
        future.result(timeout=30)
    conn = await asyncpg.connect(settings.dsn)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    await apply(settings.dsn, MIGRATIONS, schema=schema)
    pool = await asyncpg.create_pool(settings.dsn, min_size=1, max_size=2,
                                     server_settings={"search_path": schema})
    env = {**os.environ, **_zoho_env(base, org)}
    writer = _start_writer(schema, suffix, topics, env)
    publisher = Publisher.create(producer_config(settings.kafka))
    await publisher.start()
    fields = _order_fields(base)

    def command(n: int, phase: str) -> OutboundCommand:
        return validate_command({"command_id": str(uuid.uuid4()), "org_id": org,
                                 "entity_type": "salesorder", "operation": "create",
                                 "erp_ref": f"{phase}-{n}", "fields": fields,
                                 "requested_by": "bench", "requested_at": datetime.now(UTC)})

    try:
        # Warm-up: the writer has joined its group and holds a token.
        warm = command(0, "warm")
        await publisher.publish(topics["outbound"], warm.encode(), key=warm.key())
        await _wait_applied(pool, [warm.command_id], 120)
        await asyncio.sleep(60)  # a fresh rate-limit minute for the measured burst
        limited_before = _rate_limited(base)
        batch = [command(n, "burst") for n in range(args.commands)]
        started = time.perf_counter()
        for c in batch:
            await publisher.publish(topics["outbound"], c.encode(), key=c.key())
        await _wait_applied(pool, [c.command_id for c in batch], 600)
        wall = time.perf_counter() - started
        limited = _rate_limited(base) - limited_before

        samples = []
        for n in range(args.latency_commands):
            c = command(n, "steady")
            samples.append(c)
            await publisher.publish(topics["outbound"], c.encode(), key=c.key())
            await asyncio.sleep(1.0)
        ids = [c.command_id for c in samples]
        await _wait_applied(pool, ids, 120)
        rows = await pool.fetch("SELECT command_id, requested_at, completed_at FROM "
                                "outbound_commands WHERE command_id = ANY($1::text[])", ids)
        applied = [(r["completed_at"] - r["requested_at"]).total_seconds() for r in rows]
        written = _result_times(settings.kafka, topics["results"], len(ids) + args.commands + 1,
                                60)
        asked = {c.command_id: c.requested_at.timestamp() for c in samples}
        answered = [written[i] - asked[i] for i in ids if i in written]
    finally:
        writer.terminate()
        writer.wait(timeout=60)
        await publisher.close()
        await pool.close()
        conn = await asyncpg.connect(settings.dsn)
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
        for future in admin.delete_topics(list(topics.values())).values():
            future.result(timeout=30)
        sim.terminate()
        sim.wait(timeout=30)
    bound = args.commands * 60 / PER_MINUTE
    return {"commands": args.commands, "wall_s": wall, "commands_per_s": args.commands / wall,
            "bound_s": bound, "over_bound_pct": 100 * (wall - bound) / bound,
            "rate_limited": limited,
            "latency_applied_s": {"p50": _pct(applied, 0.5), "p99": _pct(applied, 0.99),
                                  "n": len(applied)},
            "latency_result_s": {"p50": _pct(answered, 0.5), "p99": _pct(answered, 0.99),
                                 "n": len(answered)}}


async def _plain(args: argparse.Namespace) -> dict[str, Any]:
    """The peer: the same creates through the same client, straight to Zoho."""
    org = "2" + uuid.uuid4().hex[:9].translate(str.maketrans("abcdef", "123456"))
    sim, base = _simulator(org)
    try:
        fields = _order_fields(base)
        settings = Settings.from_env(_zoho_env(base, org))
        async with ZohoClient(settings, token_store=MemoryTokenStore()) as client:
            await client.request("inventory", "/salesorders", method="POST",
                                 body={**fields, "reference_number": "warm"})
            await asyncio.sleep(60)  # the same fresh minute the TDS run had
            limited_before = _rate_limited(base)
            started = time.perf_counter()
            gate = asyncio.Semaphore(4)

            async def one(n: int) -> None:
                async with gate:
                    await client.request("inventory", "/salesorders", method="POST",
                                         body={**fields, "reference_number": f"plain-{n}"})

            await asyncio.gather(*(one(n) for n in range(args.commands)))
            wall = time.perf_counter() - started
            limited = _rate_limited(base) - limited_before
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    return {"commands": args.commands, "wall_s": wall, "commands_per_s": args.commands / wall,
            "rate_limited": limited}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.outbound", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=100)
    parser.add_argument("--latency-commands", type=int, default=30)
    args = parser.parse_args()
    if not 1 <= args.commands <= 1000 or not 1 <= args.latency_commands <= 300:
        parser.error("--commands must be 1-1000 and --latency-commands 1-300")
    services = find_services_env()
    if services is not None:
        load_env_file(services)
    settings = Settings.from_env()
    tds = asyncio.run(_tds(args, settings))
    plain = asyncio.run(_plain(args))
    doc = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "load": os.getloadavg(),
           "per_minute_bound": PER_MINUTE, "tds": tds, "plain_client": plain,
           "overhead_ratio": tds["wall_s"] / plain["wall_s"]}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "outbound.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    lines = ["# Write-back (bench/outbound)", "", *section(doc)]
    (OUT / "outbound.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
