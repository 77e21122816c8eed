"""Stream-worker benchmark: events/s raw → tds.entity.synced, in one run, for

- the plain confluent-kafka loop (the peer, `bench/streams/peer.py`): same pipeline;
- `tds worker`, one process and two in one group, at least once (the default);
- `tds worker --guarantee exactly_once`, one process (the transactions' cost);
- one worker on a re-sync of unchanged records (the version rule's skip path).

Every run gets fresh topics with the backlog already in `zoho.raw.bulk`; the rate is
measured on the consumer group's committed offsets, from the first commit to the last one
before the backlog is done, so process start-up, rebalancing and the wait for the final
checkpoint are excluded the same way for every contender. The CPU the contender's
processes used in that window is reported per event: on shared cores it is steadier than
the rate.

The peer and the two engines ×1 run `--rounds` times (default 3) in a rotated order and
are reported by their medians (`bench/streams/rounds.py` says why); the others run once.

    python -m bench.streams [--events 100000] [--partitions 6] [--rounds 3] [--profile]

Writes bench/out/streams-<time>.json and .md. The workers log at WARNING
(`BENCH_WORKER_LOG=INFO` for more, e.g. the faust fetch loop's re-reads). `--profile`
samples one worker with py-spy (`$PY_SPY` or on PATH) and reports the hottest frames.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench.streams.profile import sample, summarise
from bench.streams.realtime import Realtime, behind_backlog
from bench.streams.render import render, render_realtime
from bench.streams.rounds import Result, against, combine, run_rounds, settle
from bench.streams.workload import events
from tds.kafka import client_config, producer_config
from tds.settings import find_services_env, load_env_file

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out"
PEER = "confluent-kafka loop (peer)"


class Topics:
    """A fresh topic set for one run (deleted afterwards, the workers' internal ones too)."""

    def __init__(self, admin: AdminClient, partitions: int, prefix: str) -> None:
        self.admin, self.tag = admin, f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.names = {n: f"bench.{n}-{self.tag}" for n in
                      ("realtime", "bulk", "synced", "runs", "dlq", "ledger")}
        self.retry_prefix = f"bench.retry-{self.tag}."
        made = [*self.names.values(), f"{self.retry_prefix}1"]
        for future in admin.create_topics([NewTopic(t, partitions, 1) for t in made]).values():
            future.result(timeout=30)
        self.extra: list[str] = []

    def drop(self) -> None:
        existing = set(self.admin.list_topics(timeout=10).topics)
        names = [t for t in existing if self.tag in t]
        if names:
            for future in self.admin.delete_topics(names, operation_timeout=30).values():
                future.result(timeout=30)


@functools.lru_cache(maxsize=2)
def _backlog(count: int, run_id: str) -> list[tuple[bytes, bytes]]:
    """The messages of a backlog, made once per bench (~6 s per 100,000): every contender
    reads them from topics of its own under an app id of its own, so sharing ids is fine."""
    return list(events(count, run_id=run_id, seed=run_id[-6:]))


def _fill(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(producer_config(bootstrap, **{"linger.ms": 20}))
    for n, (key, value) in enumerate(messages):
        producer.produce(topic, key=key, value=value)
        if n % 5000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0


def _ends(consumer: Consumer, topic: str) -> dict[int, int]:
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in meta.partitions}


@dataclass(frozen=True)
class Window:
    """What the group did between two of its commits: seconds, events, CPU seconds."""

    seconds: float
    events: int
    cpu_s: float | None
    commits: int  # seen in the window, the first one included


def _cpu_s(pids: list[int]) -> float | None:
    """User + system CPU seconds the processes used so far (None off Linux)."""
    total = 0
    try:
        for pid in pids:
            # After the command's closing parenthesis: utime and stime are fields 12, 13.
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def _measure(bootstrap: str, group: str, topic: str, total: int, timeout_s: float,
             alive: Callable[[], bool], pids: list[int],
             on_first: Callable[[], None] = lambda: None) -> Window:
    """The steady state: from the group's first commit to its last one before the backlog
    was done (the final commit waits for the contender's next checkpoints, up to two commit
    intervals after its last event, so it would charge idle time to a finite backlog)."""
    probe = Consumer(client_config(bootstrap, **{"group.id": group,
                      "enable.auto.commit": False}))
    ends = _ends(probe, topic)
    tps = [TopicPartition(topic, p) for p in ends]
    end = sum(ends.values())
    first: tuple[float, int, float | None] | None = None
    inner: tuple[float, int, float | None] | None = None  # the last commit short of `end`
    seen, commits = 0, 0
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            done = sum(max(tp.offset, 0) for tp in probe.committed(tps, timeout=10))
            mark = (time.perf_counter(), done, _cpu_s(pids))
            if done > seen:
                seen = done
                commits += 1
                if first is None:
                    first = mark
                    on_first()
                elif done < end:
                    inner = mark
            if done >= end:
                assert first is not None
                last = inner or mark  # no commit in between: a tiny run, take it all
                cpu = None if last[2] is None or first[2] is None else last[2] - first[2]
                return Window(last[0] - first[0], last[1] - first[1], cpu,
                              commits - (0 if inner is None else 1))
            if not alive():
                raise RuntimeError(f"a process of {group} died at {done}/{total}")
            time.sleep(0.02)
    finally:
        probe.close()
    raise TimeoutError(f"{group} did not finish in {timeout_s}s")


def _count(bootstrap: str, topic: str) -> int:
    consumer = Consumer(client_config(bootstrap, **{"group.id": f"bench-count-{uuid.uuid4().hex}",
                         "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                         "enable.partition.eof": True}))
    ends = _ends(consumer, topic)
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    open_parts, count = {p for p, e in ends.items() if e > 0}, 0
    deadline = time.monotonic() + 60
    while open_parts and time.monotonic() < deadline:
        for message in consumer.consume(1000, 0.5):
            if message.error() is not None:
                open_parts.discard(message.partition() or 0)
            else:
                count += 1
    consumer.close()
    return count


def _worker(bootstrap: str, topics: Topics, app_id: str, guarantee: str,
            log: Path, engine: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap, TDS_RETRY_MAX_ATTEMPTS="1",
               TDS_LOG_LEVEL=os.environ.get("BENCH_WORKER_LOG", "WARNING"), PYTHONPATH=str(ROOT))
    args = [sys.executable, "-m", "tds.cli", "worker", "--app-id", app_id, "--engine", engine,
            "--guarantee", guarantee, "--realtime-topic", topics.names["realtime"],
            "--bulk-topic", topics.names["bulk"],
            "--synced-topic", topics.names["synced"], "--sync-runs-topic",
            topics.names["runs"], "--deadletter-topic", topics.names["dlq"],
            "--retry-prefix", topics.retry_prefix]
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)


def run_realtime(bootstrap: str, admin: AdminClient, *, count: int, partitions: int, seed: str,
                 engine: str) -> list[Realtime]:
    """One `engine` worker over a fresh backlog of `count`, webhooks sent meanwhile: from
    its first events on, then a second round right after (realtime.py says why)."""
    topics = Topics(admin, partitions, f"rt{engine[0]}")
    _fill(bootstrap, topics.names["bulk"], _backlog(count, f"run-{seed}"))
    workdir = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    proc = _worker(bootstrap, topics, f"bench-{topics.tag}", "at_least_once",
                   workdir / "w.log", engine)
    try:
        return [behind_backlog(bootstrap, engine=engine, backlog=count, phase=phase,
                               realtime_topic=topics.names["realtime"],
                               synced_topic=topics.names["synced"])
                for phase in ("start-up", "steady")]
    except BaseException:
        print((workdir / "w.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        topics.drop()
        shutil.rmtree(workdir, ignore_errors=True)


def run_workers(bootstrap: str, admin: AdminClient, *, count: int, partitions: int, seed: str,
                processes: int, guarantee: str, resync: bool = False,
                profile: Path | None = None, engine: str = "faust") -> Result:
    """N `tds worker` processes of `engine` over a fresh backlog."""
    topics = Topics(admin, partitions, f"w{processes}{guarantee[:2]}{engine[0]}")
    app_id = f"bench-{topics.tag}"
    _fill(bootstrap, topics.names["bulk"], _backlog(count, f"run-{seed}"))
    if resync:  # the same records again: every one is skipped as unchanged
        _fill(bootstrap, topics.names["bulk"], _backlog(count, f"run2-{seed}"))
    workdir = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    procs = [_worker(bootstrap, topics, app_id, guarantee,
                     workdir / f"w{n}.log", engine) for n in range(processes)]
    busy = threading.Event()
    # Sampling slows the worker down: about half of the backlog's time.
    sampler = (sample(procs[0].pid, profile, busy, max(1, count // 20_000))
               if profile is not None else None)
    try:
        total = count * (2 if resync else 1)
        window = _measure(bootstrap, app_id, topics.names["bulk"], total, 900,
                          lambda: all(p.poll() is None for p in procs),
                          [p.pid for p in procs], busy.set)
    except BaseException:
        for n in range(processes):
            print((workdir / f"w{n}.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        if sampler is not None:
            sampler.join(60)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
    outputs = _count(bootstrap, topics.names["synced"])
    topics.drop()
    shutil.rmtree(workdir, ignore_errors=True)
    # The default engine's runs keep the plain name (the report's seed table reads it).
    name = (f"tds worker ×{processes}" + ("" if engine == "faust" else f" ({engine})")
            + (" (re-sync, all unchanged)" if resync else ""))
    return _result(name, engine, processes, guarantee, window, outputs)


def run_peer(bootstrap: str, admin: AdminClient, *, count: int, partitions: int,
             seed: str) -> Result:
    """The plain confluent-kafka loop over the same kind of backlog."""
    topics = Topics(admin, partitions, "peer")
    _fill(bootstrap, topics.names["bulk"], _backlog(count, f"run-{seed}"))
    group = f"bench-peer-{topics.tag}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.streams.peer", bootstrap, group, topics.names["bulk"],
         topics.names["synced"], topics.names["ledger"], str(count)],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        window = _measure(bootstrap, group, topics.names["bulk"], count, 900,
                          lambda: proc.poll() in (None, 0), [proc.pid])
    finally:
        proc.wait(120)
    outputs = _count(bootstrap, topics.names["synced"])
    topics.drop()
    return _result(PEER, "peer", 1, "at_least_once", window, outputs)


def _result(name: str, engine: str, processes: int, guarantee: str, window: Window,
            outputs: int) -> Result:
    rate = window.events / window.seconds if window.seconds else 0.0
    cpu = (round(window.cpu_s / window.events * 1e6, 1)
           if window.cpu_s is not None and window.events else None)
    notes = ([f"{name}: only {window.commits} commits in the window, too few to measure "
              "(use more --events)"] if window.commits < 4 else [])
    return Result(name, engine, processes, guarantee, window.events, round(window.seconds, 2),
                  round(rate), round(rate / processes), outputs, cpu, notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--profile", action="store_true", help="py-spy one worker")
    parser.add_argument("--skip", action="append", default=[],
                        choices=("peer", "faust", "batched", "two", "eos", "resync",
                                 "realtime"))
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each one-process contender (medians reported)")
    args = parser.parse_args(argv)
    services = find_services_env(ROOT)
    if services is not None:
        load_env_file(services)
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    admin = AdminClient(client_config(bootstrap))
    meta = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_before": round(os.getloadavg()[0], 2), "events": args.events,
            "partitions": args.partitions, "rounds": args.rounds}
    kw: dict[str, Any] = {"count": args.events, "partitions": args.partitions,
                          "seed": uuid.uuid4().hex[:6]}
    profile_path = Path(tempfile.mkdtemp()) / "worker.pyspy" if args.profile else None
    # The peer, faust (the default) ×1 and the batched engine ×1 in rounds; faust ×2,
    # exactly_once and the re-sync on the batched engine once (faust refuses exactly_once).
    singles: dict[str, Callable[[], Result]] = {
        "peer": lambda: run_peer(bootstrap, admin, **kw),
        "faust": lambda: run_workers(bootstrap, admin, processes=1,
                                     guarantee="at_least_once", engine="faust", **kw),
        "batched": lambda: run_workers(bootstrap, admin, processes=1,
                                       guarantee="at_least_once", engine="batched", **kw)}
    results = combine(run_rounds({k: v for k, v in singles.items() if k not in args.skip},
                                 args.rounds))
    peer = next((r for r in results if r.engine == "peer"), None)
    # The one-off runs, each on a quiet machine too.
    onces: dict[str, Callable[[], Result]] = {
        "two": lambda: run_workers(bootstrap, admin, processes=2, guarantee="at_least_once",
                                   **kw),
        "eos": lambda: run_workers(bootstrap, admin, processes=1, guarantee="exactly_once",
                                   engine="batched", **kw),
        "resync": lambda: run_workers(bootstrap, admin, processes=1,
                                      guarantee="at_least_once", resync=True,
                                      engine="batched", **kw)}
    once: list[Result] = []
    for name, run_once in onces.items():
        if name not in args.skip:
            settle()
            once.append(run_once())
    for result in once:
        print(result)
    results += [against(result, peer) for result in once]
    settle()
    realtime = [] if "realtime" in args.skip else [
        # Twice the backlog: the batched engine is 80% through 100,000 by the end of the
        # first round, and the second must still run behind a backlog.
        phase for engine in ("faust", "batched")
        for phase in run_realtime(bootstrap, admin, engine=engine,
                                  **{**kw, "count": 2 * args.events})]
    for run in realtime:
        print(run)
    if profile_path is not None:  # a separate run: the sampler slows the worker down
        sampled = run_workers(bootstrap, admin, processes=1, guarantee="at_least_once",
                              profile=profile_path, engine="batched", **kw)
        meta["profiled_run_events_per_s"] = sampled.events_per_s
    meta["load_after"] = round(os.getloadavg()[0], 2)
    profile = (summarise(profile_path)
               if profile_path is not None and profile_path.exists() else [])
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (OUT / f"streams-{stamp}.json").write_text(json.dumps(
        {"meta": meta, "results": [asdict(r) for r in results], "profile": profile,
         "realtime": [asdict(r) for r in realtime]}, indent=2))
    report = render(results, meta, profile) + ("\n" + render_realtime(realtime)
                                               if realtime else "")
    (OUT / f"streams-{stamp}.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
