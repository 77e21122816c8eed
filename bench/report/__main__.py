"""The benchmark report: run every benchmark, then write bench/REPORT.md and its charts.

    python -m bench.report --run            # what `make bench` does
    python -m bench.report --run --only api,stock_sync
    python -m bench.report                  # only re-render from bench/out/
    python -m bench.report --run --quick    # small volumes, a smoke test (~5 min)

Benchmarks run one at a time (bench/report/runner.py), each as its own process against
the Kafka and PostgreSQL of .tds/services.env, with the load average recorded before and
after each. A full `--run` empties bench/out/ first and stamps each output with the run's
id; the report takes only the output bench/out/runs.json names with that id (says so when
figures come from more than one run) and puts the seed's figures, quoted from the guide,
beside ours; charts go to bench/charts/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import chaos, charts, demo_sync, kafka_tls, outbound, streams
from bench.report.runner import BENCHES, OUT, ROOT, RUNS, run_all
from tds.settings import find_services_env, load_env_file

REPORT = ROOT / "bench" / "REPORT.md"
CHARTS = ROOT / "bench" / "charts"
NOT_MEASURED = "not measured"


def _newest(pattern: str) -> dict[str, Any] | None:
    files = sorted(OUT.glob(pattern), key=lambda p: p.stat().st_mtime)
    for path in reversed(files):
        try:
            doc: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        doc["_file"] = path.name
        return doc
    return None


def _outputs(runs: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """Each benchmark's output: only the file its run wrote, stamped with that run's id.

    No fallback to an older file: a figure the run did not measure is "not measured".
    """
    found: dict[str, dict[str, Any] | None] = {}
    for bench in BENCHES:
        entry = runs.get("benchmarks", {}).get(bench.name, {})
        doc = _newest(entry["output"]) if entry.get("output") else None
        if doc is not None and doc.get("run_id") != entry.get("run_id"):
            print(f"{bench.name}: refused {doc['_file']}: run {doc.get('run_id')}, "
                  f"not {entry.get('run_id')} as bench/out/runs.json says")
            doc = None
        found[bench.name] = doc
    return found


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


async def _postgres_version() -> str:
    import asyncpg

    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        return "unknown (DATABASE_URL not set)"
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"unknown ({type(exc).__name__})"
    try:
        version: str = await conn.fetchval("SHOW server_version")
        return version
    finally:
        await conn.close()


def machine() -> dict[str, Any]:
    """What the benchmarks ran on."""
    import confluent_kafka

    from tds.provision.kafka import KAFKA_VERSION

    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "ram_gib": round(_ram_gib(), 1),
            "kernel": platform.release(), "os": platform.platform(terse=True),
            "python": platform.python_version(),
            "kafka": f"{KAFKA_VERSION} (one KRaft broker on loopback, `make up`)",
            "librdkafka": confluent_kafka.libversion()[0],
            "postgresql": asyncio.run(_postgres_version())}


def _f(value: float | None, digits: int = 1) -> str:
    return NOT_MEASURED if value is None else f"{value:,.{digits}f}"


def _webhook_at(doc: dict[str, Any] | None, rate: float) -> dict[str, Any] | None:
    if doc is None:
        return None
    return next((r for r in doc["runs"] if r["rate"] == rate
                 and r.get("client", "raw") == "raw"), None)


def _streams(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list(doc["results"]) if doc else []


def _stream_rate(doc: dict[str, Any] | None, name: str, guarantee: str = "at_least_once"
                 ) -> float | None:
    return next((float(r["events_per_s"]) for r in _streams(doc)
                 if r["name"] == name and r["guarantee"] == guarantee), None)


def _projector(doc: dict[str, Any] | None, name: str, steady: bool = False) -> float | None:
    if doc is None or name not in doc["results"]:
        return None
    res = doc["results"][name]
    return float(res.get("steady_events_per_s", res["events_per_s"]) if steady
                 else res["events_per_s"])


def _api_p99(doc: dict[str, Any] | None, mode: str) -> tuple[float, float, str] | None:
    """Median and worst sequential p99 over the endpoints, and the worst one's name."""
    if doc is None or mode not in doc:
        return None
    p99 = sorted((res["sequential"]["p99_ms"], name) for name, res in doc[mode].items())
    return p99[len(p99) // 2][0], p99[-1][0], p99[-1][1]


def _success(webhook: dict[str, Any] | None) -> tuple[int, int, str]:
    """Accepted and sent over every run of the webhook benchmark, sustained or not."""
    ok = sent = 0
    rates: set[float] = set()
    for run in (webhook or {}).get("runs", []):
        ok += run.get("ok_all", run["ok"])
        sent += run.get("sent_all", run["sent"])
        rates.add(run["rate"])
    return ok, sent, ", ".join(f"{r:,.0f}/s" for r in sorted(rates))


def seed_table(out: dict[str, dict[str, Any] | None]) -> list[str]:
    """The seed's table with our figures beside it."""
    webhook, streams, projector = out["webhook"], out["streams"], out["projector"]
    stock, api, pull = out["stock_sync"], out["api"], out["zoho_pull"]
    rows = ["| metric (seed's table) | seed (quoted from the TDS 1.0 guide) | "
            "this build (measured in this run) | how measured |",
            "| --- | ---: | ---: | --- |"]
    at1000 = _webhook_at(webhook, 1000.0)
    rows.append(
        "| webhook processing | 45 ms | "
        + (f"{at1000['p50_ms']:.1f} ms p50, {at1000['p99_ms']:.1f} ms p99 at 1,000/s"
           if at1000 else NOT_MEASURED)
        + " | bench/webhook: HMAC check + publish to Kafka (acks=all) until the 200 |")
    worker = _stream_rate(streams, "tds worker ×1")
    proj = _projector(projector, "projector", steady=True)
    rows.append(
        "| queue processing rate | 85 items/min | "
        + (f"{worker * 60:,.0f} items/min (stream worker ×1)" if worker else NOT_MEASURED)
        + (f"; {proj * 60:,.0f} items/min (projector)" if proj else "")
        + " | bench/streams, bench/projector: a backlog drained by one process |")
    ok, sent, rates = _success(webhook)
    rows.append(
        "| success rate | 99.3% | "
        + (f"{100 * ok / sent:.2f}% of {sent:,} webhooks accepted, every request at every "
           f"rate tried ({rates}), overloaded ones and warm-up included" if sent
           else NOT_MEASURED)
        + " | bench/webhook (200 ÷ sent); " + chaos.losses(out["chaos"]) + " |")
    if stock is not None:
        verdict = "within" if stock["ok"] and stock["wall_s"] < 300 else "NOT within"
        stock_cell = (f"{stock['wall_s'] / 60:.2f} min ({stock['wall_s']:.0f} s; "
                      f"{verdict} the 5 min goal)" if stock["ok"]
                      else f"failed after {stock['wall_s']:.0f} s")
        stock_how = (f"`tds poll --once stock` against the simulator, {stock['items']:,} "
                     f"items × {stock['locations']} locations, default Zoho limits")
    else:
        stock_cell, stock_how = NOT_MEASURED, ""
    rows.append(f"| stock sync duration (10,000 items, 3 locations) | 3.2 min | {stock_cell} "
                f"| {stock_how} |")
    off, on = _api_p99(api, "cache off"), _api_p99(api, "cache on")
    api_cell = NOT_MEASURED
    if off and on:
        api_cell = (f"p99 median {off[0]:.1f} ms, worst {off[1]:.1f} ms ({off[2]}) cache off;"
                    f" median {on[0]:.1f} ms, worst {on[1]:.1f} ms ({on[2]}) cache on")
    rows.append(f"| API response time | 120 ms | {api_cell} | bench/api: "
                + (f"{api['meta']['volumes']['read_models']:,} " if api else "")
                + "read-model rows, sequential requests, p99 per endpoint |")
    pull_rate = (pull["tds"]["records"] / pull["tds"]["wall_s"] * 60) if pull else None
    rows.append(
        "| max throughput | 150 items/min | "
        + (f"{worker * 60:,.0f} items/min through a stream worker" if worker else "")
        + (f"; {proj * 60:,.0f} items/min projected" if proj else "")
        + (f"; Zoho pull {pull_rate:,.0f} items/min at Zoho's 100 requests/min"
           if pull_rate else "")
        + " | slowest stage bounds the pipeline |")
    best = (webhook or {}).get("highest_sustained_per_s")
    rows.append(
        "| webhook load | 1,000/hour | "
        + (f"{best:,.0f}/s sustained = {best * 3600:,.0f}/hour (p99 ≤ "
           f"{webhook['p99_limit_ms']:.0f} ms)" if webhook and best else NOT_MEASURED)
        + " | bench/webhook: open-loop rate search |")
    return rows


def peers(out: dict[str, dict[str, Any] | None]) -> list[str]:
    """Our contenders against the plain alternatives, as ratios."""
    lines = ["| stage | contender | result | peer | peer's result | ratio (ours ÷ peer) |",
             "| --- | --- | ---: | --- | ---: | ---: |"]
    streams = out["streams"]
    peer = _stream_rate(streams, "confluent-kafka loop (peer)")
    for r in _streams(streams):
        if "peer" in r["name"] or not peer:
            continue
        lines.append(f"| stream worker | {r['name']} ({r['guarantee']}) | "
                     f"{r['events_per_s']:,.0f} ev/s | plain confluent-kafka loop | "
                     f"{peer:,.0f} ev/s | "
                     # the median of per-round ratios when the bench ran rounds
                     f"{r.get('vs_peer') or r['events_per_s'] / peer:.2f} |")
    projector = out["projector"]
    if projector:
        ours = _projector(projector, "projector")
        for peer_name, label in (("per-row INSERT ... ON CONFLICT", "per-row upsert"),
                                 ("dlt (merge, postgres)", "dlt merge")):
            theirs = _projector(projector, peer_name)
            # The peer's own account of how it was configured, where it gives one.
            label = projector["results"].get(peer_name, {}).get("does", label)
            if ours and theirs:
                lines.append(f"| projector | projector ×1 | {ours:,.0f} ev/s | {label} | "
                             f"{theirs:,.0f} ev/s | {ours / theirs:.2f} |")
        two = _projector(projector, "projector x2 processes")
        theirs = _projector(projector, "dlt (merge, postgres)")
        if two and theirs:
            lines.append(f"| projector | projector ×2 | {two:,.0f} ev/s | dlt merge | "
                         f"{theirs:,.0f} ev/s | {two / theirs:.2f} |")
        # The floors: what this machine does with no Kafka and no decode at all, so the
        # ratio says how much of the ceiling the whole process reaches.
        for stage, name, floor, label in (
                ("projector", "projector", "floor: PostgreSQL, projector's writes",
                 "PostgreSQL alone, the projector's writes (rows built before)"),
                ("replay", "replay (all models, swap)", "floor: PostgreSQL, bare COPY",
                 "PostgreSQL alone, bare COPY into unkeyed tables")):
            ours, theirs = _projector(projector, name), _projector(projector, floor)
            if ours and theirs:
                lines.append(f"| {stage} | {name} | {ours:,.0f} ev/s | {label} | "
                             f"{theirs:,.0f} ev/s | {ours / theirs:.2f} |")
    pull = out["zoho_pull"]
    if pull and isinstance(pull.get("dlt"), dict):
        for key, label in (("tds", "TDS client (paced)"), ("tds_burst", "TDS client (burst)")):
            if isinstance(pull.get(key), dict) and "wall_s" in pull[key]:  # run, not skipped
                lines.append(
                    f"| Zoho pull ({pull['items']:,} items) | {label} | "
                    f"{pull[key]['wall_s']:.1f} s, {pull[key]['rate_limited']} × 429 | dlt REST "
                    f"API source | {pull['dlt']['wall_s']:.1f} s, "
                    f"{pull['dlt']['rate_limited']} × 429 | "
                    f"{pull['dlt']['wall_s'] / pull[key]['wall_s']:.2f} (speed) |")
    return lines


def _load_table(runs: dict[str, Any], out: dict[str, dict[str, Any] | None]) -> list[str]:
    lines = ["| benchmark | run | started (UTC) | wall | exit | load avg before (1/5/15 min) | "
             "after | output |", "| --- | --- | --- | ---: | --- | --- | --- | --- |"]
    for bench in BENCHES:
        entry = runs.get("benchmarks", {}).get(bench.name)
        doc = out[bench.name]
        if entry is None:
            lines.append(f"| {bench.name} | not run | | | | | | "
                         f"{doc['_file'] if doc else '—'} |")
            continue
        lines.append(
            f"| {bench.name} | {entry.get('run_id', 'unstamped')} | {entry['when']} | "
            f"{entry['wall_s']:.0f} s | {entry['exit']} | "
            f"{' / '.join(map(str, entry['load_before']))} | "
            f"{' / '.join(map(str, entry['load_after']))} | "
            f"{entry['output'] if doc else 'none (not measured)'} |")
    return lines


def _api_notes(api: dict[str, Any]) -> list[str]:
    """What this run's timings and plans say, computed (no typed-in figure)."""
    off = api["cache off"]
    lines = ["Computed from this run (sequential p50; each statement's plan and time are in "
             "the EXPLAIN ANALYZE table below):", ""]
    pages = ("sync-runs, first page", "sync-runs, offset 40,000",
             "sync-runs, after cursor at 40,000")
    if all(name in off for name in pages):
        first, deep, cursor = (off[name]["sequential"]["p50_ms"] for name in pages)
        depth = min(40_000, api["meta"]["volumes"]["runs"])  # bench.api: fewer at small scale
        lines.append(f"- Paging at depth {depth:,}: `offset` {deep:.1f} ms, `after=<next>` "
                     f"(keyset) {cursor:.1f} ms, first page {first:.1f} ms.")
    on = api.get("cache on", {})
    shared = [n for n in off if n in on]
    if shared:
        ratio = sorted(on[n]["sequential"]["p50_ms"] / max(off[n]["sequential"]["p50_ms"], 1e-6)
                       for n in shared)
        lines.append(f"- Cache on (`TDS_ENABLE_CACHE=true`, the default) ÷ cache off, p50: "
                     f"median {ratio[len(ratio) // 2]:.2f} over {len(shared)} endpoints.")
    return lines


def _api_section(api: dict[str, Any] | None) -> list[str]:
    if api is None:
        return [NOT_MEASURED, ""]
    meta = api["meta"]
    lines = [f"{meta['volumes']['read_models']:,} entity rows, {meta['volumes']['runs']:,} sync "
             f"runs, {meta['volumes']['audit']:,} audit-log entries, "
             f"{meta['volumes']['dead']:,} dead letters; {meta['requests']} sequential "
             f"requests per endpoint, then ×{meta['concurrency']} concurrent. Goal: p99 ≤ "
             f"{meta['goal_p99_ms']:.0f} ms.", "",
             "| endpoint | cache off p50 / p99 (ms) | ×8 p99 | cache on p50 / p99 (ms) | "
             "×8 p99 |", "| --- | ---: | ---: | ---: | ---: |"]
    for name in api["cache off"]:
        off, on = api["cache off"][name], api["cache on"][name]
        lines.append(
            f"| `{name}` | {off['sequential']['p50_ms']:.1f} / "
            f"{off['sequential']['p99_ms']:.1f} | {off['concurrent']['p99_ms']:.1f} | "
            f"{on['sequential']['p50_ms']:.1f} / {on['sequential']['p99_ms']:.1f} | "
            f"{on['concurrent']['p99_ms']:.1f} |")
    failed = {f"{mode} `{name}`": sum(v for k, v in res[phase]["statuses"].items()
                                       if not k.startswith("2"))
              for mode in ("cache off", "cache on") for name, res in api[mode].items()
              for phase in ("sequential", "concurrent")}
    failed = {k: v for k, v in failed.items() if v}
    if failed:
        lines += ["", "Non-2xx answers (PostgreSQL or Kafka unavailable during the run; those "
                  "rows' latencies are not comparable): "
                  + ", ".join(f"{k} {v}" for k, v in failed.items()) + "."]
    lines += ["", *_api_notes(api)]
    lines += ["", "EXPLAIN ANALYZE of the API's queries on the same data:", "",
              "| query | ms | plan |", "| --- | ---: | --- |"]
    lines += [f"| {p['query']} | {p['execution_ms']:.2f} | {' → '.join(p['nodes'][:5])} |"
              for p in api["explain"]]
    return [*lines, ""]


def _e2e_section(doc: dict[str, Any] | None) -> list[str]:
    """Webhook → row latency, steady and during a backfill (the brief's two latencies)."""
    if doc is None:
        return [NOT_MEASURED, ""]
    steady, backfill = doc["steady"], doc["backfill"]
    during = backfill["realtime"]
    lines = [f"`tds up` ({doc['workers']} worker, {doc['projectors']} projector, web, relay, "
             "pollers) on the simulator; each webhook a new item, HMAC-signed, sent open loop; "
             "latency from the scheduled POST until a watcher polling every "
             f"{doc['poll_ms']:.0f} ms sees the row's audit entry (written in the row's "
             f"transaction). Load average before {doc['load_before']}, after "
             f"{doc['load_after']}.", "",
             "| phase | webhooks/s | sent | rows | missing | p50 ms | p99 ms | max ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, part in ((f"steady, {steady['duration_s']:.0f} s", steady),
                        (f"during a {backfill['events']:,}-event backfill", during)):
        lines.append(f"| {label} | {part['rate']:.0f} | {part['sent']:,} | {part['rows']:,} | "
                     f"{part['missing']} | {_f(part['p50_ms'], 0)} | {_f(part['p99_ms'], 0)} "
                     f"| {_f(part['max_ms'], 0)} |")
    if backfill.get("rows") is not None:
        lines += ["", f"The backfill: {backfill['events']:,} polled snapshots published to "
                  f"`zoho.raw.bulk` in {backfill['publish_s']:.1f} s; {backfill['rows']:,} of "
                  f"them were rows after {backfill['drain_s']:.1f} s "
                  f"({backfill['drain_per_s']:,.0f} events/s through worker and projector, "
                  "with the webhooks above flowing)."]
    return [*lines, ""]


def _span(runs: dict[str, Any]) -> str:
    """When the benchmarks behind this page ran (a `--only` rerun keeps the others')."""
    entries = list(runs.get("benchmarks", {}).values())
    if not entries:
        return f"Run started {runs.get('started', 'unknown')}"
    by_run: dict[str, list[str]] = {}
    for name, entry in runs["benchmarks"].items():
        by_run.setdefault(entry.get("run_id", "unstamped"), []).append(name)
    if len(by_run) > 1:  # `--only` reruns: say which figure came from which run
        return "Figures from more than one run: " + "; ".join(
            f"run {run} ({', '.join(names)}, started "
            f"{min(runs['benchmarks'][n]['when'] for n in names)})"
            for run, names in sorted(by_run.items())) + " (start, wall time and load of each below)"
    first = min(datetime.fromisoformat(e["when"]) for e in entries)
    only = next(iter(by_run))
    last = max(datetime.fromisoformat(e["when"]) + timedelta(seconds=e["wall_s"])
               for e in entries)
    return (f"One run ({only}): benchmarks ran from {first:%Y-%m-%d %H:%M} to {last:%H:%M} "
            "UTC, one at a time (each one's start, wall time and load are in the last table)")


def render(runs: dict[str, Any]) -> str:
    """bench/REPORT.md from the newest outputs; draws the charts."""
    out = _outputs(runs)
    CHARTS.mkdir(parents=True, exist_ok=True)
    images: list[tuple[str, Path]] = []
    if out["webhook"]:
        images.append(("Webhook latency per rate",
                       charts.webhook_latency(out["webhook"], CHARTS / "webhook_latency.png")))
    proj = [(name, float(res.get("steady_events_per_s", res["events_per_s"])))
            for name, res in (out["projector"] or {}).get("results", {}).items()]
    strm = [(f"{r['name']} {'EOS' if r['guarantee'] == 'exactly_once' else ''}".strip(),
             float(r["events_per_s"])) for r in _streams(out["streams"])]
    if proj or strm:
        images.append(("Throughput per contender",
                       charts.throughput(proj, strm, CHARTS / "throughput.png")))
    if out["api"]:
        images.append(("Admin API latency", charts.api_latency(
            out["api"], CHARTS / "api_latency.png", out["api"]["meta"]["goal_p99_ms"])))
    if out["zoho_pull"]:
        images.append(("Zoho pull", charts.zoho_pull(out["zoho_pull"],
                                                     CHARTS / "zoho_pull.png")))
    if out["e2e"]:
        images.append(("End to end over time", charts.e2e_timeline(
            out["e2e"], CHARTS / "e2e_timeline.png")))
    host = machine()
    total = runs.get("wall_s")
    lines = [
        "# TDS benchmark report", "",
        "Written by `make bench` (`python -m bench.report --run`): every benchmark in turn on "
        "one machine, in one run, against the Kafka and PostgreSQL that `make up` provisions. "
        "Each benchmark's raw output is in `bench/out/` (its JSON committed with this page, "
        "stamped with the run's id); this page puts the seed's figures, quoted from the TDS "
        "1.0 guide, beside ours, which are all measured in the run named below.", "",
        f"- {_span(runs)}"
        + (f"; the last `--run` took {total / 60:.1f} min" if total else "")
        + (" (quick mode: small volumes)" if runs.get("quick") else "") + ".",
        f"- Machine: {host['cpu']}, {host['cores']} cores, {host['ram_gib']} GiB RAM; kernel "
        f"{host['kernel']} ({host['os']}); Python {host['python']}; Kafka {host['kafka']}; "
        f"librdkafka {host['librdkafka']}; PostgreSQL {host['postgresql']}.",
        "- The CPUs are shared: Kafka, PostgreSQL, the load generators and whatever else "
        "runs on the machine (other test suites during development). The load average "
        "before and after each benchmark is below; read figures taken under load ≫ cores "
        "as pessimistic.", "",
        "## The seed's table", "", *seed_table(out), "",
        "## Peers", "", *peers(out), "",
        "## Stream worker: faust and batched engines (bench/streams)", "",
        *streams.section(out["streams"]),
        "## End to end (bench/e2e)", "", *_e2e_section(out["e2e"]),
        "## The demo's initial sync (bench/demo_sync)", "", *demo_sync.section(out["demo_sync"]),
        "## Admin API (bench/api)", "", *_api_section(out["api"]),
        "## Write-back (bench/outbound)", "", *outbound.section(out["outbound"]),
        "## Kafka over SASL_SSL beside plaintext (bench/kafka_tls)", "",
        *kafka_tls.section(out["kafka_tls"]),
        "## Under faults (tests/chaos, `make chaos`)", "", *chaos.section(out["chaos"]),
        "## Charts", "",
    ]
    lines += [f"![{title}]({path.relative_to(REPORT.parent).as_posix()})\n"
              for title, path in images]
    lines += ["## Runs and machine load", "", *_load_table(runs, out), "",
              "Commands: " + "; ".join(f"`{e['command']}`" for e in
                                       runs.get("benchmarks", {}).values()), ""]
    return "\n".join(lines)


def main() -> None:
    """Run (optionally) and render."""
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="store_true", help="run the benchmarks first")
    parser.add_argument("--only", default="",
                        help=f"comma-separated subset of {', '.join(b.name for b in BENCHES)}")
    parser.add_argument("--quick", action="store_true", help="small volumes (smoke test)")
    args = parser.parse_args()
    services = find_services_env(ROOT)
    if services is not None:
        load_env_file(services)
    if args.run:
        runs = run_all([n for n in args.only.split(",") if n] or None, quick=args.quick)
    else:
        runs = json.loads(RUNS.read_text()) if RUNS.is_file() else {}
    REPORT.write_text(render(runs))
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
