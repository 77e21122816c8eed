"""No duplicate work: which running run already reads what a new run would.

A run joins a running one that covers it (same or more entity types, and reading at
least as much) instead of running twice; scheduled runs also wait while a full read is
going (a fresh start fires no incremental or stock sync beside the initial full sync).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from producers.pollers.state import RunRecord

TRUE = ("1", "true", "yes")


def _chosen_ids(run: RunRecord) -> bool:
    return bool(run.configuration.get("ids"))


def covers(running: RunRecord, run_type: str, entity_types: Sequence[str], *,
           sweep: bool = False) -> bool:
    """True when `running` reads at least what a `run_type` run of `entity_types` would
    (`sweep`: a stock sync asked to re-read every item)."""
    if _chosen_ids(running) or not set(entity_types) <= set(running.entity_types):
        return False
    if running.run_type == "full":
        return run_type in ("full", "incremental")
    if running.run_type == "stock" and sweep:
        return running.configuration.get("full", "") in TRUE
    return running.run_type == run_type


def covering(runs: Iterable[RunRecord], run_type: str, entity_types: Sequence[str], *,
             sweep: bool = False) -> RunRecord | None:
    """The first running run that covers the new one, if any."""
    return next((r for r in runs if r.status == "started"
                 and covers(r, run_type, entity_types, sweep=sweep)), None)


def full_read_running(runs: Iterable[RunRecord], entity_types: Sequence[str]) -> bool:
    """True while a full sync (of every record, not chosen ids) of any of `entity_types`
    is going."""
    return any(r.status == "started" and r.run_type == "full" and not _chosen_ids(r)
               and set(r.entity_types) & set(entity_types) for r in runs)
