"""Three `tds poll` processes: one scheduler; SIGKILL it and exactly one other takes over,
and no slot fires twice."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import asyncpg

from producers.pollers.config import PollTopics
from schemas.events import SyncRunEvent
from simulator.config import LimitConfig
from tests.integration.pollers.conftest import consume
from tests.integration.zoho.simkit import running_sim, schema_dsn, sim_config
from tests.support.waits import until

ROOT = Path(__file__).resolve().parents[3]


def _lock_parts(org: str, schema: str) -> tuple[int, int]:
    digest = hashlib.sha256(f"tds.poll.scheduler:{org}:{schema}".encode()).hexdigest()
    key = int(digest[:15], 16)
    return key >> 32, key & 0xFFFFFFFF


async def _leader_pid(conn: asyncpg.Connection, classid: int, objid: int) -> int | None:
    name = await conn.fetchval(
        """SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2""",
        classid, objid)
    if not name:
        return None
    return int(str(name).rsplit(":", 1)[1])


async def test_one_scheduler_survives_a_sigkill(
        database_url: str, pg_schema: str, kafka_bootstrap: str,
        topic_factory: Callable[..., str], pool: asyncpg.Pool, tmp_path: Path) -> None:
    topics = PollTopics(raw=topic_factory("raw"), runs=topic_factory("runs"),
                        commands=topic_factory("cmd", partitions=1))
    config = replace(sim_config(manual_clock=False),
                     limits=LimitConfig(per_minute=6000, daily=1_000_000, concurrency=20))
    async with running_sim(config) as sim:
        org = sim.creds["organization_id"]
        env = {**os.environ, **sim.env(), "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
               "DATABASE_URL": schema_dsn(database_url, pg_schema),
               "TDS_STOCK_SYNC_INTERVAL_MINUTES": "0.05",
               "TDS_RECONCILE_INTERVAL_MINUTES": "0.05", "TDS_FULL_SYNC_INTERVAL_HOURS": "0",
               "TDS_LOG_LEVEL": "INFO"}
        args = [sys.executable, "-m", "tds.cli", "poll", "--raw-topic", topics.raw,
                "--runs-topic", topics.runs, "--commands-topic", topics.commands,
                "--group", f"g-{topics.commands}", "--tick-s", "0.5", "--heartbeat-s", "1",
                "--stale-after-s", "5"]
        logs = [(tmp_path / f"poll{n}.log").open("wb") for n in range(3)]
        procs = [await asyncio.create_subprocess_exec(*args, env=env, cwd=ROOT, stdout=log,
                                                      stderr=log) for log in logs]
        by_pid = {p.pid: p for p in procs}
        classid, objid = _lock_parts(org, pg_schema)
        conn = await asyncpg.connect(database_url)
        try:
            async def leader_pid() -> int | None:
                assert all(p.returncode is None for p in procs), "a poller exited early"
                return await _leader_pid(conn, classid, objid)

            async def fired(pid: int) -> bool:
                """Both kinds of slot fired at least twice by `pid`."""
                kinds = await conn.fetch(
                    f"SELECT run_type FROM {pg_schema}.poll_runs WHERE owner LIKE $1 "
                    "GROUP BY run_type HAVING count(*) >= 2", f"%:{pid}")
                return len(kinds) == 2

            leader = await until(leader_pid, 60, what="a scheduler took the lock")
            assert leader in by_pid
            await until(lambda: fired(leader), 60, what="the first scheduler fired")
            by_pid[leader].send_signal(signal.SIGKILL)
            await by_pid[leader].wait()
            # the killed backend can hold the lock a moment longer, till PostgreSQL
            # reads its closed socket: wait for a holder that is not the dead one
            async def new_leader() -> int | None:
                pid = await _leader_pid(conn, classid, objid)
                return pid if pid != leader else None

            successor = await until(new_leader, 60, what="a successor took over")
            assert successor in by_pid
            # the new scheduler fires (and sweeps the dead runs)
            await until(lambda: fired(successor), 60, what="the successor fired")
            assert await _leader_pid(conn, classid, objid) == successor
        finally:
            await conn.close()
            for p in procs:
                if p.returncode is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(p.wait(), 20)
                if p.returncode is None:
                    p.kill()
                    await p.wait()
            for log in logs:
                log.close()
    rows = await pool.fetch("SELECT run_key, run_id, owner, run_type, configuration->>'slot' "
                            "AS slot, created_at, status FROM poll_runs ORDER BY created_at")
    owners = Counter(int(r["owner"].rsplit(":", 1)[1]) for r in rows)
    assert set(owners) == {leader, successor}  # only the schedulers fired anything
    slots = Counter((r["run_type"], r["slot"]) for r in rows)
    assert max(slots.values()) == 1  # no slot fired twice
    assert owners[leader] >= 2 and owners[successor] >= 2
    assert {r["run_type"] for r in rows} == {"stock", "incremental"}
    # a run opens once; `started` repeats afterwards only as progress (counts moved)
    started = Counter(e.run_id for _, e, _ in consume(kafka_bootstrap, topics.runs)
                      if isinstance(e, SyncRunEvent) and e.status == "started"
                      and not (e.seen or e.sent or e.failed or any(x.pages for x in e.entities)))
    assert started and max(started.values()) == 1
    assert set(started) <= {r["run_id"] for r in rows}
