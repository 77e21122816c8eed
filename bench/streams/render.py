"""bench/streams' Markdown: the contenders' table, the profile and the webhooks' table."""

from __future__ import annotations

from typing import Any

from bench.streams.realtime import Realtime
from bench.streams.rounds import Result


def render(results: list[Result], meta: dict[str, Any], profile: list[str]) -> str:
    lines = ["# Stream worker benchmark", "",
             f"{meta['when']} · {meta['cpus']} CPUs · load before {meta['load_before']} · "
             f"after {meta['load_after']} · {meta['events']} events per run, "
             f"{meta['partitions']} partitions, in-memory state + changelog; the one-process "
             f"contenders {meta['rounds']} rounds each, in a rotated order (medians)", "",
             "| contender | processes | guarantee | events | s | events/s | per process | "
             "vs peer | CPU µs/event | outputs | rounds: events/s (vs peer) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        each = ", ".join(f"{x['events_per_s']:,.0f} ({x['vs_peer']})" for x in r.rounds)
        lines.append(f"| {r.name} | {r.processes} | {r.guarantee} | {r.events} | {r.seconds} | "
                     f"{r.events_per_s} | {r.per_process} | "
                     f"{r.vs_peer if r.vs_peer is not None else '-'} | "
                     f"{r.cpu_us_per_event if r.cpu_us_per_event is not None else '-'} | "
                     f"{r.outputs} | {each or '-'} |")
    lines += [f"- {note}" for r in results for note in r.notes]
    lines += ["", "events and s: from the first commit to the last one before the backlog "
              "was done (the steady state; of the median round); CPU: user + system time of "
              "the contender's processes (librdkafka's threads included) in that window, per "
              "event; vs peer: the median of the ratios to the peer of the same round (the "
              "others: to the peer's median).", "",
              "Goal: ≥ 10,000 events/s per worker process.", ""]
    if profile:
        lines += ["## Where one worker's time goes (py-spy, a separate run at "
                  f"{meta.get('profiled_run_events_per_s')} events/s)", "", "```",
                  *profile, "```"]
    return "\n".join(lines) + "\n"


def render_realtime(runs: list[Realtime]) -> str:
    """The webhooks-behind-a-backlog table."""
    rows = ["## Webhooks behind a backlog", "",
            "| engine | phase | backlog | webhooks (20/s) | arrived | p50 ms | p99 ms | max ms | "
            "backlog done when the last came out |", "|---|---|---|---|---|---|---|---|---|"]
    rows += [f"| {r.engine} | {r.phase} | {r.backlog} | {r.webhooks} | {r.arrived} | {r.p50_ms} | "
             f"{r.p99_ms} | {r.max_ms} | {r.backlog_done_at_last} |" for r in runs]
    rows += ["", "Latency: the synced message's own timestamp less the moment its raw event "
             "was produced. Start-up: from the worker's first 1,000 events on; steady: the "
             "round right after, on the same worker and backlog. Goal (steady): p99 ≤ 100 ms."]
    return "\n".join(rows) + "\n"
