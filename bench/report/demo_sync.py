"""The report's section on the demo's initial sync (bench/out/demo_sync.json)."""

from __future__ import annotations

from typing import Any


def section(doc: dict[str, Any] | None) -> list[str]:
    """The initial sync's time against Zoho's rate-limit bound, and the dashboard's start."""
    if doc is None:
        return ["not measured", ""]
    pages = sum(int(e.get("pages") or 0) for e in doc["entities"])
    return [
        "`python -m bench.demo_sync`: `tds demo --exit-after-sync` on the simulator (which "
        "enforces Zoho's 100 requests a minute) with the default data. The sync time is the "
        "run's, from its start until its last event was projected; the bound is Zoho's floor "
        "for the same records, one list page of 200 per request at 100 requests a minute "
        f"({doc['bound_s']:.1f} s). Goal: within 1.2× of the bound; the dashboard answering "
        "within 60 s.", "",
        "| records | pages read | sync | Zoho's bound | ratio | dashboard answered |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {doc['records']:,} | {pages} | {doc['sync_s']:.1f} s | {doc['bound_s']:.1f} s | "
        f"{doc['ratio']} | {doc['dashboard_s']} s after the start |", ""]
