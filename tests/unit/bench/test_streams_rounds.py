"""bench/streams: rounds in a rotated order, medians, per-round ratios; the profile summary."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from bench.streams.profile import summarise
from bench.streams.rounds import Result, against, combine, run_rounds, settle


def _result(engine: str, rate: float, cpu: float | None = 80.0) -> Result:
    return Result(engine, engine, 1, "at_least_once", 1000, 1.0, rate, rate, 1000, cpu)


def test_each_round_starts_with_the_next_contender() -> None:
    order: list[str] = []

    def contender(name: str) -> Result:
        order.append(name)
        return _result(name, 1.0)

    runs = run_rounds({n: functools.partial(contender, n) for n in ("peer", "faust", "batched")},
                      3, report=lambda _: None, quiet=lambda: 0.5)
    assert order == ["peer", "faust", "batched", "faust", "batched", "peer",
                     "batched", "peer", "faust"]
    assert [len(r) for r in runs.values()] == [3, 3, 3]
    assert {r.waited_s for rs in runs.values() for r in rs} == {0.5}


def test_settle_waits_for_a_quiet_machine_and_no_longer_than_its_bound() -> None:
    assert settle(below=(os.cpu_count() or 1) + 1, max_s=5.0) < 1.0  # always quiet
    assert 1.0 <= settle(below=-1.0, max_s=1.0) < 2.0  # never quiet: the bound


def test_the_ratio_is_the_median_of_each_rounds_own_ratio() -> None:
    # The peer swings; the contender follows it at 0.9× in every round. The ratio of the
    # medians would say 0.9 × 10,000 / 10,000 only by luck; per round it is 0.9 each time.
    peers = [_result("peer", 12_000, 85.0), _result("peer", 8_000, 120.0),
             _result("peer", 10_000, 90.0)]
    mine = [_result("batched", 10_800, 80.0), _result("batched", 7_200, 110.0),
            _result("batched", 9_000, None)]
    combined = {r.engine: r for r in combine({"peer": peers, "batched": mine})}
    batched = combined["batched"]
    assert batched.events_per_s == 9_000
    assert batched.vs_peer == 0.9
    assert batched.cpu_us_per_event == 95.0  # the median of the rounds that measured it
    assert [r["vs_peer"] for r in batched.rounds] == [0.9, 0.9, 0.9]
    assert combined["peer"].vs_peer == 1.0


def test_a_single_run_is_set_against_the_peers_median() -> None:
    assert against(_result("faust", 6_000), _result("peer", 12_000)).vs_peer == 0.5
    assert against(_result("faust", 6_000), None).vs_peer is None


def test_the_profile_summary_reads_the_main_thread_only(tmp_path: Path) -> None:
    raw = tmp_path / "worker.pyspy"
    main = "_run_module_as_main (<frozen runpy>:198);main (tds/cli.py:59);Engine.step (e.py:1)"
    raw.write_text(f"{main};Engine.process (e.py:2);normalise (f.py:3) 3\n"
                   f"{main} 1\n"
                   "Thread._bootstrap (threading.py:1002);_worker (thread.py:81) 96\n")
    lines = summarise(raw)
    assert " 75.0%        normalise" in lines
    assert "100.0%  the loop's steps (the rest: poll/consume, the outbox's poll)" in lines
    assert not any("_worker" in line for line in lines)
