"""Admin API latency with a large deployment's read models.

    python -m bench.api [--scale 1.0] [--requests 200] [--concurrency 8] [--reuse] [--keep]

Fills a dedicated schema (`bench_api`) with 1,000,000 entity rows, 50,000 sync runs,
1,000,000 audit-log entries and 20,000 dead letters (bench/api/seed.py), serves the admin
API on it in its own process (bench/api/server.py, the same `api.wiring.install` that
`tds web` mounts, Kafka lag from the provisioned broker), and times each GET endpoint:
sequential requests, then `--concurrency` at once, with TDS_ENABLE_CACHE off and on.
EXPLAIN ANALYZE of the API's queries on the same data goes into the report.

Writes bench/out/api.json and bench/out/api.md. Uses the Kafka and PostgreSQL of
.tds/services.env (or the environment). `--reuse` keeps an already seeded schema,
`--keep` leaves it behind after the run (dropped otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from api.queries import RUN_ORDER
from api.runs import cursor_of
from bench.api.seed import Volumes, drop, seed
from tds.settings import find_services_env, load_env_file

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out"
SCHEMA = "bench_api"
GOAL_P99_MS = 20.0
SEED_MS = 120.0

# name → path (the run id is filled in once known)
ENDPOINTS = (
    ("health", "/api/tds/health"),
    ("status", "/api/tds/status"),
    ("queue", "/api/tds/queue"),
    ("bff status", "/api/bff/tds/status"),
    ("sync-runs, first page", "/api/tds/sync-runs"),
    ("sync-runs, status=failed", "/api/tds/sync-runs?status=failed"),
    ("sync-runs, entity_type=contact", "/api/tds/sync-runs?entity_type=contact"),
    ("sync-runs, offset 40,000", "/api/tds/sync-runs?offset=40000"),
    ("sync-runs, after cursor at 40,000", "/api/tds/sync-runs?after={cursor}"),
    ("sync-runs/{id}", "/api/tds/sync-runs/{run_id}"),
    ("deadletter, first page", "/api/tds/deadletter"),
    ("deadletter, status=pending", "/api/tds/deadletter?status=pending"),
)

# The API's statements (api/queries.py) with the parameters the endpoints above use.
EXPLAINED = (
    ("entity estimates (pg_class)",
     "SELECT c.relname, c.reltuples FROM pg_class c WHERE c.relname = ANY($1::text[]) "
     "AND c.relkind = 'r' AND c.relnamespace = ANY(current_schemas(false)::regnamespace[])",
     (["items", "item_stock", "contacts", "invoices"],)),
    ("dead letters by status",
     "SELECT status, count(*) AS n FROM dead_letters GROUP BY status", ()),
    ("recent runs",
     "SELECT * FROM sync_runs ORDER BY started_at DESC NULLS LAST, run_id DESC LIMIT 10", ()),
    ("active syncs", "SELECT count(*) FROM sync_runs WHERE status = 'started'", ()),
    ("success rate (last day)",
     "SELECT (SELECT count(*) FROM audit_log WHERE projected_at > now() - interval '1 day')"
     " AS ok, (SELECT count(*) FROM dead_letters WHERE added_at > now() - interval '1 day')"
     " AS failed", ()),
    ("last sync",
     "SELECT greatest((SELECT max(finished_at) FROM sync_runs WHERE status = 'completed'), "
     "(SELECT max(projected_at) FROM audit_log))", ()),
    ("sync-runs count, no filter", "SELECT count(*) FROM sync_runs WHERE true", ()),
    ("sync-runs count, entity_type=contact",
     "SELECT count(*) FROM sync_runs WHERE entity_types @> ARRAY[$1::text]", ("contact",)),
    ("sync-runs page, offset 40,000",
     "SELECT * FROM sync_runs WHERE true ORDER BY started_at DESC NULLS LAST, run_id DESC "
     "LIMIT 50 OFFSET 40000", ()),
    ("sync-runs page, after cursor at 40,000",
     "SELECT * FROM sync_runs WHERE true AND (started_at, run_id) < ($1, $2) "
     "ORDER BY started_at DESC NULLS LAST, run_id DESC LIMIT 50",
     ("{cursor_started}", "{cursor_id}")),
    ("sync-runs page, entity_type=contact",
     "SELECT * FROM sync_runs WHERE entity_types @> ARRAY[$1::text] "
     "ORDER BY started_at DESC NULLS LAST, run_id DESC LIMIT 50", ("contact",)),
    ("run changes (audit log of a run)",
     "SELECT projected_at, table_name, action, entity_type, entity_id, version_modified_at "
     "FROM audit_log WHERE sync_run_id = $1 ORDER BY id LIMIT 10000", ("{run_id}",)),
    ("dead letters count, status=pending",
     "SELECT count(*) FROM dead_letters WHERE ($1::text IS NULL OR status = $1) AND "
     "($2::text IS NULL OR stage = $2) AND ($3::text IS NULL OR entity_type = $3) AND "
     "($4::text IS NULL OR error_class = $4)", ("pending", None, None, None)),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(samples: list[float], statuses: dict[int, int], wall_s: float) -> dict[str, Any]:
    return {"n": len(samples), "p50_ms": _pct(samples, 0.50), "p90_ms": _pct(samples, 0.90),
            "p99_ms": _pct(samples, 0.99), "max_ms": max(samples),
            "mean_ms": statistics.fmean(samples), "per_s": len(samples) / wall_s,
            "statuses": {str(k): v for k, v in sorted(statuses.items())}}


async def _one(session: aiohttp.ClientSession, url: str, samples: list[float],
               statuses: dict[int, int]) -> None:
    start = time.perf_counter()
    async with session.get(url) as resp:
        await resp.read()
    samples.append((time.perf_counter() - start) * 1000)
    statuses[resp.status] = statuses.get(resp.status, 0) + 1


async def _measure(session: aiohttp.ClientSession, url: str, *, requests: int,
                   concurrency: int, budget_s: float) -> dict[str, Any]:
    """`requests` GETs, `concurrency` in flight, stopping early after `budget_s`."""
    samples: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + budget_s
    remaining = [requests]

    async def lane() -> None:
        while remaining[0] > 0 and time.perf_counter() < deadline:
            remaining[0] -= 1
            await _one(session, url, samples, statuses)

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return _summary(samples, statuses, time.perf_counter() - start)


async def _wait_ready(base: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            if proc.returncode is not None:
                raise RuntimeError(f"API server exited with {proc.returncode}")
            try:
                async with session.get(base + "/api/openapi.json") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("API server did not start")


async def _run_mode(cache: bool, run_id: str, cursor: str, args: argparse.Namespace
                    ) -> dict[str, Any]:
    port = _free_port()
    # Reads need the bearer token, as deployed (the check is part of what is measured).
    token = secrets.token_urlsafe(16)
    env = {**os.environ, "TDS_ENABLE_CACHE": "true" if cache else "false",
           "TDS_LOG_LEVEL": "WARNING", "TDS_API_TOKEN": token}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.api.server", "--schema", args.schema, "--port",
        str(port), cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    try:
        await _wait_ready(base, proc)
        connector = aiohttp.TCPConnector(limit=max(1, args.concurrency))
        async with aiohttp.ClientSession(
                connector=connector, headers={"Authorization": f"Bearer {token}"}) as session:
            for name, path in ENDPOINTS:
                url = base + path.format(run_id=run_id, cursor=cursor)
                await _measure(session, url, requests=args.warmup, concurrency=1,
                               budget_s=10)
                seq = await _measure(session, url, requests=args.requests, concurrency=1,
                                     budget_s=args.budget_s)
                conc = await _measure(session, url, requests=args.requests * 2,
                                      concurrency=args.concurrency, budget_s=args.budget_s)
                results[name] = {"path": path, "sequential": seq, "concurrent": conc}
                print(f"  cache {'on ' if cache else 'off'} {name:34s} "
                      f"seq p50 {seq['p50_ms']:7.2f} p99 {seq['p99_ms']:7.2f} ms | "
                      f"x{args.concurrency} p50 {conc['p50_ms']:7.2f} p99 {conc['p99_ms']:7.2f}"
                      f" ms {conc['per_s']:7.0f}/s", flush=True)
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return results


async def _explain(dsn: str, schema: str, run_id: str, after: dict[str, Any]
                   ) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    plans = []
    try:
        for name, sql, params in EXPLAINED:
            fill = {"{run_id}": run_id, "{cursor_started}": after["started_at"],
                    "{cursor_id}": after["run_id"]}
            values = [fill.get(p, p) if isinstance(p, str) else p for p in params]
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *values)
            plan = json.loads(rows[0][0])[0]
            top = plan["Plan"]
            nodes: list[str] = []

            def walk(node: dict[str, Any], nodes: list[str] = nodes) -> None:
                label = node["Node Type"]
                if "Index Name" in node:
                    label += f" ({node['Index Name']})"
                elif "Relation Name" in node:
                    label += f" ({node['Relation Name']})"
                nodes.append(label)
                for child in node.get("Plans", ()):
                    walk(child)

            walk(top)
            plans.append({"query": name, "execution_ms": plan["Execution Time"],
                          "planning_ms": plan["Planning Time"], "nodes": nodes})
    finally:
        await conn.close()
    return plans


def _markdown(doc: dict[str, Any]) -> str:
    meta = doc["meta"]
    vol = meta["volumes"]
    lines = [
        "# Admin API latency",
        "",
        f"- When: {meta['when']}; {meta['cpus']} CPUs; load average {meta['load_before']} "
        f"before, {meta['load_after']} after; Python {meta['python']}.",
        f"- Data (schema `{meta['schema']}`): {vol['read_models']:,} entity rows "
        f"({vol['items']:,} items, {vol['stock']:,} stock snapshots, {vol['contacts']:,} "
        f"contacts), {vol['runs']:,} sync runs, {vol['audit']:,} audit-log entries, "
        f"{vol['dead']:,} dead letters. Seeded in {meta['seed_s']:.0f} s.",
        f"- Server: the admin API (`api.wiring.install`) alone in its own process; Kafka lag "
        f"from the provisioned broker. Client: aiohttp, keep-alive; {meta['requests']} "
        f"sequential requests, then {meta['requests'] * 2} with {meta['concurrency']} in "
        f"flight, per endpoint (each phase stops after {meta['budget_s']:.0f} s).",
        f"- Goal: p99 ≤ {GOAL_P99_MS:.0f} ms (the seed's API: {SEED_MS:.0f} ms).",
        "",
    ]
    for mode in ("cache off", "cache on"):
        lines += [f"## TDS_ENABLE_CACHE {mode.split()[1]}", "",
                  "| endpoint | p50 (ms) | p90 | p99 | max | req/s | "
                  f"×{meta['concurrency']}: p50 | p99 | req/s | statuses |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for name, res in doc[mode].items():
            s, c = res["sequential"], res["concurrent"]
            flag = "" if s["p99_ms"] <= GOAL_P99_MS else " ⚠"
            lines.append(
                f"| `{name}` | {s['p50_ms']:.2f} | {s['p90_ms']:.2f} | {s['p99_ms']:.2f}{flag}"
                f" | {s['max_ms']:.1f} | {s['per_s']:.0f} | {c['p50_ms']:.2f} | "
                f"{c['p99_ms']:.2f} | {c['per_s']:.0f} | "
                f"{', '.join(f'{k}×{v}' for k, v in c['statuses'].items())} |")
        lines.append("")
    lines += ["## The queries (EXPLAIN ANALYZE on the same data)", "",
              "| query | execution (ms) | plan |", "| --- | ---: | --- |"]
    for plan in doc["explain"]:
        lines.append(f"| {plan['query']} | {plan['execution_ms']:.2f} | "
                     f"{' → '.join(plan['nodes'][:6])} |")
    return "\n".join(lines) + "\n"


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        raise SystemExit("DATABASE_URL is not set: run `make up`")
    volumes = Volumes().scaled(args.scale)
    load_before = round(os.getloadavg()[0], 2)
    start = time.perf_counter()
    print(f"seeding schema {args.schema}: {volumes}", flush=True)
    took = await seed(dsn, args.schema, volumes, reuse=args.reuse)
    seed_s = time.perf_counter() - start
    print(f"seeded in {seed_s:.1f} s: {took}", flush=True)
    conn = await asyncpg.connect(dsn, server_settings={"search_path": args.schema})
    try:
        run_id = await conn.fetchval(
            "SELECT sync_run_id FROM audit_log ORDER BY id DESC LIMIT 1")
        # The run the 40,000-deep page starts after, in the API's order (the last run when a
        # small --scale seeds fewer: the deep rows then time an empty page).
        depth = min(40_000, volumes.runs) - 1
        after = dict(await conn.fetchrow(
            f"SELECT started_at, run_id FROM sync_runs {RUN_ORDER} OFFSET {depth} LIMIT 1"))
        cursor = cursor_of(after)
    finally:
        await conn.close()
    doc: dict[str, Any] = {"meta": {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
        "python": platform.python_version(), "schema": args.schema,
        "volumes": {**{k: getattr(volumes, k) for k in
                       ("items", "stock", "contacts", "runs", "audit", "dead")},
                    "read_models": volumes.read_models},
        "seed_s": seed_s, "seed_steps_s": took, "requests": args.requests,
        "concurrency": args.concurrency, "budget_s": args.budget_s, "run_id": run_id,
        "load_before": load_before, "goal_p99_ms": GOAL_P99_MS, "seed_api_ms": SEED_MS}}
    try:
        doc["explain"] = await _explain(dsn, args.schema, run_id, after)
        doc["cache off"] = await _run_mode(False, run_id, cursor, args)
        doc["cache on"] = await _run_mode(True, run_id, cursor, args)
    finally:
        if not args.keep:
            await drop(dsn, args.schema)
    doc["meta"]["load_after"] = round(os.getloadavg()[0], 2)
    return doc


def main() -> None:
    """Seed, serve, measure, write bench/out/api.{json,md}."""
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every volume (1.0: 1,000,000 entity rows)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--budget-s", type=float, default=15.0,
                        help="longest time per endpoint and phase")
    parser.add_argument("--schema", default=SCHEMA)
    parser.add_argument("--reuse", action="store_true",
                        help="keep an already seeded schema of the same volumes")
    parser.add_argument("--keep", action="store_true", help="do not drop the schema")
    args = parser.parse_args()
    services = find_services_env(ROOT)
    if services is not None:
        load_env_file(services)
    doc = asyncio.run(_main(args))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "api.json").write_text(json.dumps(doc, indent=2, default=str))
    (OUT / "api.md").write_text(_markdown(doc))
    print(f"wrote {OUT / 'api.json'} and {OUT / 'api.md'}")


if __name__ == "__main__":
    main()
