"""The seed's stock sync: 10,000 items over 3 locations, timed end to end.

    python -m bench.report.stock_sync [--items 10000] [--locations 3]

Starts the simulator (its default Zoho limits: 100 requests/min) as its own process and
times `tds poll --once stock` against it, publishing to fresh topics of the provisioned
Kafka. Writes bench/out/stock_sync.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic

from tds.kafka import client_config
from tds.migrate import apply
from tds.settings import find_services_env, load_env_file

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out"
MIGRATIONS = ROOT / "projections" / "migrations"
SCHEMA = "bench_stock"  # the poller's state (poll_runs, cursors, token) lives here


def _schema_dsn(dsn: str) -> str:
    """A DSN whose sessions use SCHEMA (asyncpg passes unknown parameters as settings)."""
    return f"{dsn}{'&' if '?' in dsn else '?'}search_path={SCHEMA}"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310  # loopback
                return json.loads(resp.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def measure(items: int, locations: int) -> dict[str, Any]:
    """Run one stock sync against a fresh simulator; its wall time and result line."""
    org = str(random.randrange(10**10, 10**11))
    port = _port()
    url = f"http://127.0.0.1:{port}"
    sim = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", str(port), "--org-id", org,
         "--items", str(items), "--locations", str(locations), "--log-level", "WARNING"],
        cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        creds = _get(f"{url}/_sim/credentials", 120)
        tag = uuid.uuid4().hex[:8]
        topics = [f"bench.stock.raw.{tag}", f"bench.stock.runs.{tag}"]
        admin = AdminClient(client_config(os.environ["KAFKA_BOOTSTRAP_SERVERS"]))
        for future in admin.create_topics(
                [NewTopic(t, num_partitions=6, replication_factor=1) for t in topics]).values():
            future.result(timeout=30)
        env = {**os.environ, "ZOHO_API_BASE": url, "ZOHO_CLIENT_ID": creds["client_id"],
               "ZOHO_CLIENT_SECRET": creds["client_secret"],
               "ZOHO_REFRESH_TOKEN": creds["refresh_token"], "ZOHO_ORGANIZATION_ID": org,
               "TDS_LOG_LEVEL": "WARNING",
               "DATABASE_URL": _schema_dsn(os.environ["DATABASE_URL"])}
        asyncio.run(apply(os.environ["DATABASE_URL"], MIGRATIONS, schema=SCHEMA))
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "tds.cli", "poll", "--once", "stock",
             "--raw-topic", topics[0], "--runs-topic", topics[1]],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
        wall = time.perf_counter() - start
        admin.delete_topics(topics)
    finally:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(timeout=20)
        except subprocess.TimeoutExpired:
            sim.kill()
    return {"items": items, "locations": locations, "wall_s": wall,
            "ok": done.returncode == 0, "result": done.stdout.strip()[-500:],
            "stderr": done.stderr.strip()[-1500:], "seed_min": 3.2, "goal_min": 5.0}


def main() -> None:
    """Measure and write bench/out/stock_sync.json."""
    parser = argparse.ArgumentParser(prog="python -m bench.report.stock_sync",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--locations", type=int, default=3)
    args = parser.parse_args()
    services = find_services_env(ROOT)
    if services is not None:
        load_env_file(services)
    load_before = os.getloadavg()[0]
    doc = measure(args.items, args.locations)
    doc["load_before"], doc["load_after"] = load_before, os.getloadavg()[0]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "stock_sync.json").write_text(json.dumps(doc, indent=2))
    print(f"stock sync of {args.items} items × {args.locations} locations: "
          f"{doc['wall_s']:.1f} s ({'ok' if doc['ok'] else 'FAILED'}) {doc['result']}")


if __name__ == "__main__":
    main()
