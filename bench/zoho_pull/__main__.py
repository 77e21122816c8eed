"""A full pull of Zoho items from the simulator at its default limits (100 requests/min).

    python -m bench.zoho_pull [--items 50000] [--per-page 200] [--no-dlt]

Starts the simulator as its own process (wall clock, default limits), pulls every item
with TDS's client (keyset paging, paced rate limiter) and publishes each as a raw event
to a fresh Kafka topic when Kafka is provisioned (`make up`), then reports the wall time
against the rate-limit bound (requests ÷ 100 per minute) and the 429s the simulator
answered. When `dlt` is installed (`pip install -e '.[bench]'`), the same pull runs
through dlt's REST API source into PostgreSQL as the peer. Writes bench/out/zoho_pull.json
and bench/out/zoho_pull.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.zoho_pull.tds_pull import pull_with_tds
from tds.settings import find_services_env, load_env_file

OUT = Path(__file__).resolve().parents[1] / "out"
GOAL = {"within_bound_pct": 5.0, "rate_limited": 0}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_simulator(items: int, port: int) -> tuple[subprocess.Popen[bytes], float]:
    """Start `python -m simulator` with only items (and a few contacts); wait until it listens."""
    args = [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port),
            "--items", str(items), "--contacts", "50", "--salesorders", "0", "--invoices", "0",
            "--customerpayments", "0", "--creditnotes", "0", "--bills", "0",
            "--vendorpayments", "0", "--log-level", "WARNING"]
    started = time.monotonic()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    deadline = started + 600
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise SystemExit(f"the simulator exited with {process.returncode}")
        if b"listening on" in line:
            return process, time.monotonic() - started
    process.kill()
    raise SystemExit("the simulator did not start within 600 s")


async def _control(base: str, path: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession() as http:
        if body is None:
            async with http.get(f"{base}/_sim/{path}") as resp:
                return await resp.json()
        async with http.post(f"{base}/_sim/{path}", json=body) as resp:
            return await resp.json()


def _peer(base: str, creds: dict[str, Any], per_page: int, dsn: str | None) -> dict[str, Any]:
    """Run the dlt peer in its own process (it is synchronous and imports a lot)."""
    if importlib.util.find_spec("dlt") is None:
        return {"skipped": "dlt is not installed (pip install -e '.[bench]')"}
    if not dsn:
        return {"skipped": "no DATABASE_URL for dlt's PostgreSQL destination"}
    env = {**os.environ, "BENCH_SIM_BASE": base, "BENCH_CREDS": orjson.dumps(creds).decode(),
           "BENCH_PER_PAGE": str(per_page), "BENCH_DSN": dsn,
           "BENCH_SCHEMA": f"bench_dlt_{uuid.uuid4().hex[:8]}"}
    done = subprocess.run([sys.executable, "-m", "bench.zoho_pull.dlt_peer"], env=env,
                          capture_output=True, timeout=3600, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.decode()[-2000:]}
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


def _markdown(report: dict[str, Any]) -> str:
    ours = report["tds"]
    lines = [
        f"# Zoho full pull: {report['items']:,} items at "
        f"{report['limits']['per_minute']} requests/minute",
        "",
        f"Simulator: {report['items']} items, limits per minute {report['limits']['per_minute']}"
        f", daily {report['limits']['daily']}, concurrency {report['limits']['concurrency']}; "
        f"data generated in {report['generate_s']:.1f} s. Machine: {report['machine']}.",
        "",
        "| puller | records | requests | wall s | bound s | vs bound | 429s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| TDS client (keyset, paced) | {ours['records']} | {ours['requests']} | "
        f"{ours['wall_s']:.1f} | {ours['bound_s']:.1f} | {ours['vs_bound_pct']:+.1f}% | "
        f"{ours['rate_limited']} |",
    ]
    burst = report.get("tds_burst", {})
    if "wall_s" in burst:
        lines.append(
            f"| TDS client, burst mode (`smooth=False`) | {burst['records']} | "
            f"{burst['requests']} | {burst['wall_s']:.1f} | {burst['bound_s']:.1f} | "
            f"{burst['vs_bound_pct']:+.1f}% | {burst['rate_limited']} |")
    peer = report.get("dlt", {})
    if "wall_s" in peer:
        lines.append(
            f"| dlt REST API source → PostgreSQL | {peer['records']} | {peer['requests']} | "
            f"{peer['wall_s']:.1f} | {peer['bound_s']:.1f} | {peer['vs_bound_pct']:+.1f}% | "
            f"{peer['rate_limited']} |")
    else:
        lines.append(f"| dlt | {peer.get('skipped') or peer.get('error', '')[:200]} |||||")
    lines += ["", "Bound: requests ÷ 100 per minute. "
              f"Goal: within {GOAL['within_bound_pct']:g}% of it, zero 429s. TDS paces "
              "evenly by default (one call per 0.6 s) so the org's other callers (webhook "
              "re-fetches, image downloads) always find budget; the burst mode spends each "
              "minute at once, as dlt does, but never past the limit. dlt's time includes "
              "normalising and loading into PostgreSQL; TDS's includes publishing every "
              "record to Kafka (acks=all) when Kafka is provisioned."]
    return "\n".join(lines) + "\n"


async def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the report."""
    parser = argparse.ArgumentParser(prog="python -m bench.zoho_pull", description=__doc__)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--per-page", type=int, default=200)
    parser.add_argument("--no-dlt", action="store_true", help="skip the dlt peer")
    parser.add_argument("--no-kafka", action="store_true", help="pull only, publish nothing")
    parser.add_argument("--no-burst", action="store_true",
                        help="skip the second TDS pull with the limiter in burst mode")
    args = parser.parse_args(argv)
    services = find_services_env()
    if services is not None:
        load_env_file(services)
    port = _free_port()
    process, generate_s = start_simulator(args.items, port)
    base = f"http://127.0.0.1:{port}"
    try:
        creds = await _control(base, "credentials")
        limits = await _control(base, "limits")
        bootstrap = None if args.no_kafka else os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        ours = await pull_with_tds(base, creds, per_page=args.per_page, bootstrap=bootstrap)
        stats = await _control(base, "stats")
        ours["rate_limited"] = sum(stats["rate_limited"].values())
        print(f"TDS: {ours['records']} items, {ours['requests']} requests in "
              f"{ours['wall_s']:.1f} s (bound {ours['bound_s']:.1f} s, "
              f"{ours['vs_bound_pct']:+.1f}%), 429s: {ours['rate_limited']}", flush=True)
        burst: dict[str, Any] = {"skipped": "--no-burst"}
        if not args.no_burst:
            await _control(base, "reset", {"limits": True, "tokens": False})
            await asyncio.sleep(61)  # a clean minute window
            before = await _control(base, "stats")
            burst = await pull_with_tds(base, creds, per_page=args.per_page,
                                        bootstrap=bootstrap, smooth=False)
            after = await _control(base, "stats")
            burst["rate_limited"] = sum(after["rate_limited"].values()) - \
                sum(before["rate_limited"].values())
            print(f"TDS burst: {burst['requests']} requests in {burst['wall_s']:.1f} s, "
                  f"429s: {burst['rate_limited']}", flush=True)
        peer: dict[str, Any] = {"skipped": "--no-dlt"}
        if not args.no_dlt:
            await _control(base, "reset", {"limits": True, "tokens": False})
            await asyncio.sleep(61)  # a clean minute window, as our pull had
            before = await _control(base, "stats")
            peer = await asyncio.to_thread(_peer, base, creds, args.per_page,
                                           os.environ.get("DATABASE_URL"))
            after = await _control(base, "stats")
            if "wall_s" in peer:
                peer["rate_limited"] = sum(after["rate_limited"].values()) - \
                    sum(before["rate_limited"].values())
                peer["requests"] = after["requests"]["total"] - before["requests"]["total"]
                peer["bound_s"] = peer["requests"] / limits["per_minute"] * 60
                peer["vs_bound_pct"] = (peer["wall_s"] / peer["bound_s"] - 1) * 100
            print(f"dlt: {peer}", flush=True)
    finally:
        process.terminate()
        process.wait(timeout=30)
    report = {"items": args.items, "per_page": args.per_page, "limits": limits,
              "generate_s": generate_s, "tds": ours, "tds_burst": burst, "dlt": peer,
              "goal": GOAL,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                         f"Python {platform.python_version()}"}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "zoho_pull.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    (OUT / "zoho_pull.md").write_text(_markdown(report))
    print((OUT / "zoho_pull.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
