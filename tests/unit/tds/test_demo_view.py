"""The demo's progress line and its following of a joined run."""

from __future__ import annotations

import time

from tds.commands import demo


def test_the_bar_shows_records_pages_changes_and_time_left() -> None:
    run = {"status": "started", "seen": 600, "changed": 300, "expected": None,
           "progress": {"total": 1200, "pages": 3, "eta_s": 60.0}}
    line = demo._progress(run, time.monotonic() - 60)
    assert "[###############...............] 600/1,200 records, 3 pages, 300 changed" in line
    assert "~60s left" in line
    unknown = demo._progress({"status": "started", "seen": 10, "progress": {}},
                             time.monotonic())
    assert "10/? records" in unknown and "left" not in unknown


def test_a_joined_run_names_the_run_to_follow() -> None:
    assert demo.joined_run({"status": "joined", "configuration": '{"joined": "r-9"}'}) == "r-9"
    assert demo.joined_run({"status": "started", "configuration": {"joined": "r-9"}}) is None
    assert demo.joined_run({"status": "completed"}) is None
