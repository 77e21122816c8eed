"""Rounds: the one-process contenders run several times, in a rotated order, and each
is reported by its medians and by its median ratio to the peer of the same round.

Why: on this kind of machine (two shared cores, the broker on them) one run of a contender
swings by 20-30% (the peer measured 9,298 and 12,817 events/s minutes apart), and the
order matters too: the peer always ran first, on a broker that was not yet deleting the
topics of the runs before it. A ratio taken inside one round compares two runs minutes
apart; the median over rotated rounds puts every contender first, second and last once.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace


@dataclass
class Result:
    """One contender's measurement (or the medians of its rounds)."""

    name: str
    engine: str  # "peer", "faust" or "batched"
    processes: int
    guarantee: str
    events: int
    seconds: float
    events_per_s: float
    per_process: float
    outputs: int
    cpu_us_per_event: float | None = None  # the contender's processes, over the window
    notes: list[str] = field(default_factory=list)
    vs_peer: float | None = None  # median of the per-round ratios to the peer
    rounds: list[dict[str, float | None]] = field(default_factory=list)
    waited_s: float = 0.0  # for a quiet machine before it started (`settle`)


def busy_cores(interval_s: float = 0.5) -> float | None:
    """How many cores the whole machine kept busy over `interval_s` (None off Linux)."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            ticks = [int(n) for n in stat.readline().split()[1:]]
        idle = ticks[3] + ticks[4]  # idle + iowait
        return sum(ticks) - idle, sum(ticks)

    try:
        busy0, total0 = sample()
        time.sleep(interval_s)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    cores = os.cpu_count() or 1
    return cores * (busy1 - busy0) / max(1, total1 - total0)


def settle(below: float = 0.3, max_s: float = 30.0) -> float:
    """Wait until the machine is quiet (under `below` busy cores), at most `max_s`; the
    seconds waited. After a run the broker still works for it (deleting its topics,
    compacting its changelogs), on the cores the next contender gets."""
    started = time.monotonic()
    while time.monotonic() - started < max_s:
        busy = busy_cores()
        if busy is None or busy < below:
            break
    return round(time.monotonic() - started, 1)


def run_rounds(contenders: dict[str, Callable[[], Result]], rounds: int,
               report: Callable[[Result], None] = print,
               quiet: Callable[[], float] = settle) -> dict[str, list[Result]]:
    """Every contender `rounds` times, each on a quiet machine; round r starts at the
    r-th contender."""
    names = list(contenders)
    runs: dict[str, list[Result]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            waited = quiet()
            result = replace(contenders[name](), waited_s=waited)
            runs[name].append(result)
            report(result)
    return runs


def combine(runs: dict[str, list[Result]], peer: str = "peer") -> list[Result]:
    """One Result per contender: median rate and CPU, median ratio to the same round's
    peer, each round's figures kept."""
    peers = runs.get(peer, [])
    combined = []
    for results in runs.values():
        rounds: list[dict[str, float | None]] = []
        for n, mine in enumerate(results):
            theirs = peers[n].events_per_s if n < len(peers) else 0
            rounds.append({"events_per_s": mine.events_per_s,
                           "cpu_us_per_event": mine.cpu_us_per_event,
                           "waited_s": mine.waited_s,
                           "vs_peer": round(mine.events_per_s / theirs, 2) if theirs else None})
        ratios = [r["vs_peer"] for r in rounds if r["vs_peer"] is not None]
        cpus = [r.cpu_us_per_event for r in results if r.cpu_us_per_event is not None]
        rate = statistics.median(r.events_per_s for r in results)
        middle = min(results, key=lambda r: abs(r.events_per_s - rate))
        combined.append(replace(
            middle, events_per_s=round(rate), per_process=round(rate / middle.processes),
            cpu_us_per_event=round(statistics.median(cpus), 1) if cpus else None,
            vs_peer=round(statistics.median(ratios), 2) if ratios else None,
            notes=[n for r in results for n in r.notes], rounds=rounds))
    return combined


def against(result: Result, peer: Result | None) -> Result:
    """A contender run once, its ratio to the peer's median."""
    if peer is None or not peer.events_per_s:
        return result
    return replace(result, vs_peer=round(result.events_per_s / peer.events_per_s, 2))
