"""Run every benchmark in turn, one at a time, recording wall time and machine load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out"
RUNS = OUT / "runs.json"


@dataclass(frozen=True, slots=True)
class Bench:
    """One benchmark: its module, the arguments `make bench` gives it, what it writes."""

    name: str
    module: str
    args: tuple[str, ...]
    quick_args: tuple[str, ...]
    output: str  # glob in bench/out
    timeout_s: float


BENCHES = (
    Bench("api", "bench.api", (), ("--scale", "0.1", "--requests", "50"), "api.json", 1800),
    Bench("webhook", "bench.webhook", (), ("--rates", "500,1000", "--no-search"),
          "webhook.json", 1200),
    Bench("stock_sync", "bench.report.stock_sync", (), ("--items", "2000"),
          "stock_sync.json", 1800),
    # 50,000 items: more than one minute's budget (20,000 fit in 100 requests, under the
    # limit, so any puller that bursts finishes before the limit matters).
    Bench("zoho_pull", "bench.zoho_pull", ("--items", "50000"),
          ("--items", "5000", "--no-burst"), "zoho_pull.json", 1800),
    Bench("projector", "bench.projector", ("--events", "50000"),
          ("--events", "10000", "--processes", "1"), "projector-*.json", 1800),
    Bench("streams", "bench.streams", (), ("--events", "50000"), "streams-*.json", 1800),
    Bench("kafka_tls", "bench.kafka_tls", (),
          ("--messages", "20000", "--rounds", "1", "--worker-events", "10000"),
          "kafka_tls.json", 900),
    Bench("outbound", "bench.outbound", (), ("--commands", "20", "--latency-commands", "10"),
          "outbound.json", 1200),
    Bench("e2e", "bench.e2e", (), ("--duration-s", "10", "--backfill", "20000"), "e2e.json",
          1800),
    Bench("demo_sync", "bench.demo_sync", (), ("--items", "1000", "--contacts", "200",
                                               "--salesorders", "400", "--invoices", "400"),
          "demo_sync.json", 1200),
    # `make chaos`'s run (its own Kafka and PostgreSQL): the promises under faults.
    Bench("chaos", "tests.chaos.scenario", ("--seconds", "300"), ("--seconds", "60"),
          "chaos.json", 1800),
)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def stamp(path: Path, run_id: str) -> None:
    """Mark a benchmark's JSON output as written by run `run_id` (the report checks it)."""
    doc = json.loads(path.read_text())
    doc["run_id"] = run_id
    path.write_text(json.dumps(doc, indent=2, default=str))


def run_all(names: list[str] | None, *, quick: bool) -> dict[str, Any]:
    """Run the chosen benchmarks (all by default); write and return bench/out/runs.json.

    A full run starts from an empty bench/out, so nothing older can slip into its report; a
    `--only` rerun keeps the other benchmarks' entries, each with its own run id.
    """
    OUT.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    if names is None:
        for old in [*OUT.glob("*.json"), *OUT.glob("*.md")]:
            old.unlink()
    previous: dict[str, Any] = json.loads(RUNS.read_text()) if RUNS.is_file() else {}
    log: dict[str, Any] = {"started": started.isoformat(timespec="seconds"), "run_id": run_id,
                           "quick": quick, "benchmarks": dict(previous.get("benchmarks", {}))}
    total = time.perf_counter()
    for bench in BENCHES:
        if names and bench.name not in names:
            continue
        args = bench.quick_args if quick else bench.args
        command = [sys.executable, "-m", bench.module, *args]
        print(f"== {bench.name}: {' '.join(command[1:])}", flush=True)
        before, start, began = _load(), time.perf_counter(), time.time()
        try:
            done = subprocess.run(command, cwd=ROOT, timeout=bench.timeout_s, check=False)
            code: int | str = done.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        wall = time.perf_counter() - start
        written = sorted((p for p in OUT.glob(bench.output) if p.stat().st_mtime >= began),
                         key=lambda p: p.stat().st_mtime)
        if written:
            stamp(written[-1], run_id)
        log["benchmarks"][bench.name] = {
            "run_id": run_id,
            "command": " ".join(["python", *command[1:]]), "exit": code, "wall_s": wall,
            "load_before": before, "load_after": _load(),
            "output": written[-1].name if written else None,
            "when": datetime.fromtimestamp(began, UTC).isoformat(timespec="seconds")}
        print(f"== {bench.name}: exit {code} in {wall:.0f} s", flush=True)
        RUNS.write_text(json.dumps(log, indent=2))
    if any(entry.get("when", "") >= log["started"] for entry in log["benchmarks"].values()):
        log["wall_s"] = time.perf_counter() - total
    RUNS.write_text(json.dumps(log, indent=2))
    return log
