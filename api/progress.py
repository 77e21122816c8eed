"""A running sync run's progress: pages, the total when known, an estimated time left."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any


def run_progress(run: Mapping[str, Any], entities: Sequence[Mapping[str, Any]],
                 now: datetime) -> dict[str, Any]:
    """The `progress` object of a run: per entity type, pages, total, rate and time left.

    The total is the sum of Zoho's totals when every entity type has one, else the
    records the run expected (the same run's last count); with no total, no estimate."""
    totals = [e.get("total") for e in entities]
    known = bool(entities) and all(isinstance(t, int) for t in totals) and \
        len(entities) >= len(run.get("entity_types") or ())
    total = sum(t for t in totals if isinstance(t, int)) if known else run.get("expected")
    seen = int(run.get("seen") or 0)
    started = run.get("started_at")
    elapsed = (now - started).total_seconds() if started is not None else 0.0
    rate = seen / elapsed if elapsed > 0 and seen else None
    eta = None
    if run.get("status") == "started" and total and rate:
        eta = max(0.0, (total - seen) / rate)
    return {"pages": sum(int(e.get("pages") or 0) for e in entities), "total": total,
            "records_per_s": rate, "eta_s": eta, "entities": list(entities)}
