"""The report's section on the stream worker's two engines (bench/out/streams-*.json)."""

from __future__ import annotations

from typing import Any


def _engine(result: dict[str, Any]) -> str:
    engine = str(result["engine"])
    return "none (the peer)" if engine == "peer" else engine


def _ratio(result: dict[str, Any], peer: dict[str, Any] | None) -> str:
    if result.get("vs_peer") is not None:
        return f"{result['vs_peer']:.2f}"
    return f"{result['events_per_s'] / peer['events_per_s']:.2f}" if peer else "–"


def section(doc: dict[str, Any] | None) -> list[str]:
    """Events/s and CPU per event of each engine beside the plain loop; webhooks behind a
    backlog on each."""
    if doc is None:
        return ["not measured", ""]
    meta, results = doc["meta"], doc["results"]
    peer = next((r for r in results if r["engine"] == "peer"), None)
    lines = [
        f"{meta['events']:,} raw events per run, {meta['partitions']} partitions, the same "
        "pipeline under each engine and under a plain confluent-kafka loop (the peer: "
        "consume, the same processing, produce, commit). The peer and the engines ×1 ran "
        f"{meta.get('rounds', 1)} round(s) in a rotated order: their events/s and CPU are "
        "medians, and `vs peer` is the median of the ratios to the peer of the same round "
        "(one run swings by 20-30% on these shared cores). Goals: faust ×1 ≥ 0.5× the "
        "peer, batched ×1 ≥ 1.0×.", "",
        "| engine | contender | guarantee | events/s | vs peer | CPU µs/event | rounds |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |"]
    for r in results:
        rounds = ", ".join(f"{x['events_per_s']:,.0f}" for x in r.get("rounds", []))
        lines.append(f"| {_engine(r)} | {r['name']} | {r['guarantee']} | "
                     f"{r['events_per_s']:,} | {_ratio(r, peer)} | {r['cpu_us_per_event']:.1f} | "
                     f"{rounds or 'once'} |")
    realtime = doc.get("realtime") or []
    if realtime:
        lines += [
            "", "Webhooks behind a bulk backlog (200 at 20/s per round, each its own raw "
            "event; latency from its produce to its `tds.entity.synced` record's timestamp). "
            "Start-up: from the worker's first 1,000 events on; steady: the round right "
            "after, on the same worker and backlog. Goal (steady): p99 ≤ 100 ms.", "",
            "| engine | round | backlog | arrived | p50 ms | p99 ms | max ms | "
            "backlog done at the last |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['engine']} | {r.get('phase', 'start-up')} | {r['backlog']:,} | "
                  f"{r['arrived']}/{r['webhooks']} | {r['p50_ms']} | {r['p99_ms']} | "
                  f"{r['max_ms']} | {r['backlog_done_at_last']:,} |" for r in realtime]
    return [*lines, ""]
