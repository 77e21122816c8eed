"""A run's progress: total from Zoho's totals or the expected count, time left by rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.progress import run_progress

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _run(**values: object) -> dict[str, object]:
    return {"status": "started", "entity_types": ["item", "contact"], "seen": 600,
            "expected": None, "started_at": NOW - timedelta(seconds=60), **values}


def test_zohos_totals_give_the_total_and_the_rate_the_time_left() -> None:
    entities = [{"entity_type": "item", "pages": 2, "total": 1000},
                {"entity_type": "contact", "pages": 1, "total": 200}]
    progress = run_progress(_run(), entities, NOW)
    assert progress["total"] == 1200 and progress["pages"] == 3
    assert progress["records_per_s"] == 10.0 and progress["eta_s"] == 60.0


def test_without_every_total_the_expected_count_stands_in() -> None:
    some = [{"entity_type": "item", "pages": 2, "total": 1000}]  # contact not reached yet
    assert run_progress(_run(expected=900), some, NOW)["total"] == 900
    assert run_progress(_run(expected=900), some, NOW)["eta_s"] == 30.0
    unknown = run_progress(_run(), [{"entity_type": "item", "pages": 2, "total": None}], NOW)
    assert unknown["total"] is None and unknown["eta_s"] is None


def test_an_ended_run_has_no_time_left() -> None:
    done = run_progress(_run(status="completed", expected=600), [], NOW)
    assert done["eta_s"] is None and done["total"] == 600
