"""The chaos run's verdict and its human-readable report, from the JSON report."""

from __future__ import annotations

from typing import Any

from tests.chaos.writejudge import COUNTS, OUTCOMES
from tests.support.truth import PROBLEMS


def totals(report: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Each problem summed over the tables."""
    return {k: sum(int(t.get(k, 0)) for t in report.values()) for k in PROBLEMS}


def failures(report: dict[str, Any]) -> list[str]:
    """What the report says is wrong (empty when the run passed)."""
    problems = []
    for verdict in ("event_path", "whole_system"):
        outcome = report.get(verdict) or {}
        if not outcome.get("converged"):
            tables = outcome.get("differences") or {}
            examples = [e for t in tables.values() for e in t.get("examples", ())][:6]
            problems.append(f"{verdict}: read models differ from Zoho: "
                            f"{totals(tables)} {examples}")
    for given_up in (report.get("webhooks_given_up") or {}).get("unexplained", []):
        problems.append(f"Zoho gave up a webhook no fault explains: {given_up}")
    for kind in report.get("not_run", []):
        problems.append(f"fault {kind} was planned but did not fit the chaos time budget")
    for run in report.get("scheduled_runs_in_chaos", []):
        problems.append(f"a scheduled sync ran during the event-path chaos: {run}")
    bound = report["config"]["recovery_timeout_s"]
    for fault in report["faults"]:
        if fault["skipped"]:
            problems.append(f"fault {fault['kind']} was skipped: {fault['skipped']}")
        elif fault["recovery_s"] is None or fault["recovery_s"] - fault["zoho_wait_s"] > bound:
            problems.append(f"{fault['kind']} {fault['target']} did not recover in "
                            f"{bound}s (+ {fault['zoho_wait_s']}s Zoho imposed): probes "
                            f"{fault['probes_s']}, healthy {fault['healthy_s']} "
                            f"{fault['detail'].get('last_health', '')} "
                            f"{fault['detail'].get('probe_state', '')}")
    for line in report.get("unexpected_exits", []):
        problems.append(f"a process exited without a fault to explain it: {line}")
    for name in report.get("secrets_in_log", []):
        problems.append(f"{name} appears in the processes' log")
    if report["config"].get("writeback_commands") and "writeback" not in report:
        problems.append("write-back: commands were planned but never judged")
    problems += [f"write-back: {p}" for p in (report.get("writeback") or {}).get("problems", [])]
    for dead in report["unexplained_dead_letters"]:
        problems.append(f"unexplained dead letter {dead['id']}: {dead['why']} "
                        f"({dead['stage']}, {dead['error_class']}: {dead['error_message']})")
    return problems


def markdown(report: dict[str, Any]) -> str:
    """The human-readable report."""
    lines = [f"# Chaos run (seed {report['seed']})", "",
             f"Chaos phase {report.get('chaos_s')}s, {report.get('rounds')} round(s), "
             f"{len(report['faults'])} faults; initial full sync "
             f"{report.get('initial_sync_s')}s.", "",
             "| # | fault | target | at (s) | lasted (s) | restarted (s) | probes (s) | "
             "healthy (s) | recovery (s) | of which Zoho imposed (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n, f in enumerate(report["faults"], 1):
        lines.append(f"| {n} | {f['kind']} | {f['target'] or f['skipped']} | {f['at_s']} | "
                     f"{f['duration_s']} | {f['restarted_s'] or ''} | {f['probes_s']} | "
                     f"{f['healthy_s']} | {f['recovery_s']} | {f['zoho_wait_s'] or ''} |")
    if report.get("not_run"):
        lines += ["", f"Planned but not run: {', '.join(report['not_run'])}"]
    recovered = [f["recovery_s"] for f in report["faults"] if f["recovery_s"] is not None]
    if recovered:
        lines += ["", f"Recovery: max {max(recovered)}s, mean "
                  f"{sum(recovered) / len(recovered):.1f}s over {len(recovered)} faults."]
    lines += ["", "## Comparison with the simulator's ground truth", "",
              "| verdict | " + " | ".join(PROBLEMS) + " | converged | in (s) |",
              "|---|" + "---|" * (len(PROBLEMS) + 2)]
    for verdict in ("event_path", "whole_system"):
        outcome = report.get(verdict) or {}
        found = totals(outcome.get("differences") or {})
        lines.append(f"| {verdict.replace('_', ' ')} | "
                     + " | ".join(str(found[k]) for k in PROBLEMS)
                     + f" | {outcome.get('converged')} | {outcome.get('converge_s')} |")
    lines += _writeback(report.get("writeback"))
    given_up = report.get("webhooks_given_up") or {}
    lines += ["", f"Webhooks Zoho gave up delivering: {given_up.get('explained', 0)} while a "
              "fault kept the receiver down or away from Kafka (their records are excused "
              "from the event-path verdict and repaired in the whole-system one), "
              f"{len(given_up.get('unexplained', []))} with no fault to explain them; "
              f"{given_up.get('write_backs_not_excused', 0)} announced a write-back's own "
              "write, whose record the writer feeds back: not excused."]
    lines += ["", f"Dead letters sent back during the event-path comparison (the operator's "
              f"retry-all): {report.get('dead_letters_retried', 0)}."]
    lines += ["", "Scheduled syncs during the event-path chaos: "
              + (", ".join(report.get("scheduled_runs_in_chaos", [])) or "none"), "",
              "## Dead letters by reason", ""]
    if report["dead_letters_by_reason"]:
        lines += ["| stage / error class / reason | count |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(report["dead_letters_by_reason"].items())]
    else:
        lines.append("none")
    exits = report.get("unexpected_exits", [])
    lines += ["", f"Unexplained: {len(report['unexplained_dead_letters'])}", "",
              "## Process exits no fault explains", ""]
    lines += [f"- `{line}`" for line in exits] if exits else ["none"]
    lines += ["",
              "Secrets found in the processes' log (client secret, refresh token, webhook "
              "secret, API token, access tokens): "
              + (", ".join(report.get("secrets_in_log", [])) or "none"), ""]
    problems = failures(report)
    lines += ["## Verdict", "", "PASS" if not problems else "FAIL", ""]
    lines += [f"- {p}" for p in problems]
    return "\n".join(lines) + "\n"


def _writeback(judged: dict[str, Any] | None) -> list[str]:
    """The write-back commands' section: counts, then outcomes by kind."""
    lines = ["", "## Write-back commands sent during the chaos", ""]
    if judged is None:
        return [*lines, "none"]
    lines += ["| " + " | ".join(c.replace("_", " ") for c in COUNTS) + " |",
              "|" + "---|" * len(COUNTS),
              "| " + " | ".join(str(judged.get(c, 0)) for c in COUNTS) + " |", "",
              "| kind | " + " | ".join(OUTCOMES) + " | no outcome |",
              "|---|" + "---|" * (len(OUTCOMES) + 1)]
    for kind, found in sorted(judged.get("by_kind", {}).items()):
        other = sum(n for status, n in found.items() if status not in OUTCOMES)
        lines.append(f"| {kind} | " + " | ".join(str(found.get(o, 0)) for o in OUTCOMES)
                     + f" | {other} |")
    lines += ["", f"Every command final or dead-lettered {judged.get('settle_s')}s after the "
              f"faults; {judged.get('attempts_over_one', 0)} needed more than one send to Zoho "
              "(an unknown outcome, looked up, or a retry)."]
    return lines
