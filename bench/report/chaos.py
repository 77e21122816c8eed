"""The report's section on the long chaos run (bench/out/chaos.json)."""

from __future__ import annotations

from typing import Any

from tests.chaos.report import failures, totals
from tests.support.truth import PROBLEMS


def losses(doc: dict[str, Any] | None) -> str:
    """The success-rate row's note on losses under faults."""
    if doc is None:
        return "losses under faults: the chaos run (tests/chaos) was not run"
    event_path = totals((doc.get("event_path") or {}).get("differences") or {})
    applied = sum(1 for f in doc["faults"] if not f["skipped"])
    return (f"under {applied} faults, event path only (tests/chaos): lost "
            f"{event_path['lost']}, duplicated {event_path['duplicates']}, stale "
            f"{event_path['stale']}, wrong values {event_path['wrong_value']}")


def section(doc: dict[str, Any] | None) -> list[str]:
    """The long chaos run: each fault's recovery, the final comparison, the dead letters."""
    if doc is None:
        return ["not measured", ""]
    config = doc["config"]
    lines = [f"`tds up` ({config['workers']} workers, {config['projectors']} projectors, web, "
             f"relay, pollers) on the simulator with duplicated, reordered and dropped "
             f"webhooks; seed {doc['seed']}; initial full sync {doc.get('initial_sync_s')} s, "
             f"chaos phase {doc.get('chaos_s')} s. Event path: no webhook dropped, no "
             "scheduled poll, nothing forced: after the faults the pipeline drains and the "
             "read models are compared with the simulator's ground truth, every table and "
             "column. Whole system: then webhooks are dropped and a requested reconcile and "
             "full sync repair. Recovery: from the end of a fault until probe edits are in "
             "the read models and health says healthy; the part Zoho imposed (its rate "
             "window, a token throttle) is shown beside it.", "",
             "| fault | target | at (s) | lasted (s) | recovery (s) | Zoho imposed (s) |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for f in doc["faults"]:
        recovered = "—" if f["recovery_s"] is None else f"{f['recovery_s']:,.1f}"
        lines.append(f"| {f['kind']} | {f['target'] or f['skipped']} | {f['at_s']} | "
                     f"{f['duration_s']} | {recovered} | {f.get('zoho_wait_s') or 0} |")
    exits = doc.get("unexpected_exits", [])
    dead = doc.get("dead_letters_by_reason", {})
    lines += ["", "| verdict | " + " | ".join(PROBLEMS) + " |",
              "| --- |" + " ---: |" * len(PROBLEMS)]
    for verdict in ("event_path", "whole_system"):
        found = totals((doc.get(verdict) or {}).get("differences") or {})
        lines.append(f"| {verdict.replace('_', ' ')} | "
                     + " | ".join(str(found[k]) for k in PROBLEMS) + " |")
    lines += ["",
              f"- Dead letters: {sum(dead.values())}, "
              f"{len(doc['unexplained_dead_letters'])} not explained by a fault"
              + ("; " + "; ".join(f"{k}: {v}" for k, v in sorted(dead.items())) if dead
                 else "") + ".",
              f"- Process exits no fault explains: {len(exits)}"
              + ("".join(f"\n  - `{line}`" for line in exits)),
              f"- Secrets in the processes' log: "
              f"{', '.join(doc.get('secrets_in_log', [])) or 'none'}.",
              f"- Verdict: {'; '.join(failures(doc)) or 'PASS'}.", ""]
    return lines
