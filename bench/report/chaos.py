"""The report's section on the long chaos run (bench/out/chaos.json)."""

from __future__ import annotations

from typing import Any

from tests.chaos.scenario import failures
from tests.support.pipeline import PROBLEMS


def losses(doc: dict[str, Any] | None) -> str:
    """The success-rate row's note on losses under faults."""
    if doc is None:
        return "losses under faults: the chaos run (tests/chaos) was not run"
    totals = doc["totals"]
    applied = sum(1 for f in doc["faults"] if not f["skipped"])
    return (f"under {applied} faults (tests/chaos): lost {totals['lost']}, duplicated "
            f"{totals['duplicates']}, stale {totals['stale']}")


def section(doc: dict[str, Any] | None) -> list[str]:
    """The long chaos run: each fault's recovery, the final comparison, the dead letters."""
    if doc is None:
        return ["not measured", ""]
    config = doc["config"]
    lines = [f"`tds up` ({config['workers']} workers, {config['projectors']} projectors, web, "
             f"relay, pollers) on the simulator with duplicated, reordered and dropped "
             f"webhooks; seed {doc['seed']}; initial full sync {doc.get('initial_sync_s')} s, "
             f"chaos phase {doc.get('chaos_s')} s, then a final sync and the comparison with "
             "the simulator's ground truth. Recovery: from the end of a fault until probe "
             "edits are in the read models and health says healthy.", "",
             "| fault | target | at (s) | lasted (s) | recovery (s) |",
             "| --- | --- | ---: | ---: | ---: |"]
    for f in doc["faults"]:
        recovered = "—" if f["recovery_s"] is None else f"{f['recovery_s']:,.1f}"
        lines.append(f"| {f['kind']} | {f['target'] or f['skipped']} | {f['at_s']} | "
                     f"{f['duration_s']} | {recovered} |")
    totals = doc["totals"]
    exits = doc.get("unexpected_exits", [])
    dead = doc.get("dead_letters_by_reason", {})
    lines += ["", "| " + " | ".join(PROBLEMS) + " |", "|" + " ---: |" * len(PROBLEMS),
              "| " + " | ".join(str(totals[k]) for k in PROBLEMS) + " |", "",
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
