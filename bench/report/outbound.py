"""The report's section on write-back (bench/out/outbound.json)."""

from __future__ import annotations

from typing import Any


def section(doc: dict[str, Any] | None) -> list[str]:
    """Commands/s against Zoho's write bound beside the plain client; latency at 1/s."""
    if doc is None:
        return ["not measured", ""]
    tds, plain = doc["tds"], doc["plain_client"]
    lat, res = tds["latency_applied_s"], tds["latency_result_s"]
    return [
        f"{tds['commands']} sales-order creates through `tds.outbound` and `tds writer` at "
        f"Zoho's bound of {doc['per_minute_bound']} requests/min, beside the same Zoho client "
        "sending them directly (no Kafka, no PostgreSQL), on the simulator (machine load "
        f"{', '.join(f'{x:.1f}' for x in doc['load'])}). Goal: within 5% of the bound, no 429.",
        "",
        "| | wall s | commands/s | vs bound | 429s |", "| --- | ---: | ---: | ---: | ---: |",
        f"| tds writer | {tds['wall_s']:.1f} | {tds['commands_per_s']:.2f} | "
        f"{tds['over_bound_pct']:+.1f}% of {tds['bound_s']:.0f} s | {tds['rate_limited']} |",
        f"| plain client (same Zoho client, no Kafka) | {plain['wall_s']:.1f} | "
        f"{plain['commands_per_s']:.2f} | | {plain['rate_limited']} |", "",
        f"Overhead ratio (tds ÷ plain wall time): {doc['overhead_ratio']:.3f}. "
        f"Latency at 1 command/s ({lat['n']} commands): command → applied p50 "
        f"{lat['p50'] * 1000:.0f} ms, p99 {lat['p99'] * 1000:.0f} ms; command → result on "
        f"tds.outbound.results p50 {res['p50'] * 1000:.0f} ms, p99 {res['p99'] * 1000:.0f} ms.",
        "",
    ]
