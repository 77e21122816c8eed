"""`make demo`'s initial sync against Zoho's rate-limit bound for the same data.

    python -m bench.demo_sync [--items 5000 --contacts 1000 --salesorders 2000 --invoices 2000]

Runs `tds demo --exit-after-sync` on free ports with a fresh organization (the simulator
enforces Zoho's limits), then reads the org's completed full run from `sync_runs`
(DATABASE_URL): its duration (started until its last event was projected) against the
bound, one list page of 200 records per request at 100 requests a minute, per entity
type. Also reports how long the dashboard took to answer after the start. Writes
bench/out/demo_sync.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

from tds.settings import find_services_env, load_env_file

PER_PAGE = 200
PER_MINUTE = 100
OUT = Path(__file__).resolve().parents[1] / "out" / "demo_sync.json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bound_s(entities: list[dict[str, Any]]) -> float:
    """Zoho's floor for reading these records: their pages at 100 requests a minute."""
    pages = sum(math.ceil(int(e.get("seen") or 0) / PER_PAGE) for e in entities)
    return pages * 60.0 / PER_MINUTE


async def _run(org_id: str) -> dict[str, Any] | None:
    conn = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        row = await conn.fetchrow(
            "SELECT run_id, seen, entities::text, started_at, finished_at FROM sync_runs "
            "WHERE org_id = $1 AND run_type = 'full' AND status = 'completed' "
            "ORDER BY finished_at DESC LIMIT 1", org_id)
    finally:
        await conn.close()
    return None if row is None else dict(row)


def main() -> int:
    """Run the demo once and report."""
    parser = argparse.ArgumentParser(prog="python -m bench.demo_sync")
    for name, default in (("items", 5000), ("contacts", 1000), ("salesorders", 2000),
                          ("invoices", 2000)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--timeout-s", type=float, default=900)
    args = parser.parse_args()
    services = find_services_env()  # the Kafka and PostgreSQL `make up` started
    if services is not None:
        load_env_file(services)
    port, hook = _free_port(), _free_port()
    token = f"bench-{random.randrange(10**9)}"
    env = {**os.environ, "TDS_API_TOKEN": token}
    for name in ("ZOHO_CLIENT_ID", "ZOHO_REFRESH_TOKEN", "ZOHO_ORGANIZATION_ID"):
        env.pop(name, None)  # the simulator, never a real organization
    org_id = str(random.randrange(10**10, 10**11))
    t0 = time.monotonic()
    demo = subprocess.Popen(
        [sys.executable, "-m", "tds.cli", "demo", "--port", str(port), "--webhook-port",
         str(hook), "--org-id", org_id, "--items",
         str(args.items), "--contacts", str(args.contacts), "--salesorders",
         str(args.salesorders), "--invoices", str(args.invoices), "--exit-after-sync",
         "--sync-timeout-s", str(args.timeout_s)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert demo.stdout is not None
    dashboard_s = None
    for line in demo.stdout:  # ends when the demo exits (bounded by --sync-timeout-s)
        if line.startswith("dashboard:") and dashboard_s is None:
            dashboard_s = time.monotonic() - t0
    demo.wait(timeout=120)
    run = asyncio.run(_run(org_id))
    if run is None:
        print("no completed full sync run of the demo's organization", file=sys.stderr)
        return 1
    entities = json.loads(run["entities"])
    took_s = (run["finished_at"] - run["started_at"]).total_seconds()
    floor_s = bound_s(entities)
    result = {"records": run["seen"], "sync_s": round(took_s, 1), "bound_s": floor_s,
              "ratio": round(took_s / floor_s, 2) if floor_s else None,
              "dashboard_s": round(dashboard_s, 1) if dashboard_s else None,
              "entities": entities, "run_id": run["run_id"]}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"initial sync: {run['seen']:,} records in {took_s:.1f} s; Zoho's bound "
          f"{floor_s:.1f} s; ratio {result['ratio']}; dashboard answered after "
          f"{result['dashboard_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
