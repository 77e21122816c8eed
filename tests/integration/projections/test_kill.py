"""SIGKILL the projector at random moments while it works through a stream, restart it
each time: the final tables equal the expected state exactly and no effect is doubled.

TDS_KILL_EVENTS sets the stream length (default 20,000; the issue's run is 100,000),
TDS_KILL_COUNT the number of kills (default 5).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

from bench.projector.events import Workload
from tests.integration.projections.conftest import end_offsets, produce, stored_offsets
from tests.integration.projections.oracle import actual, differences, expected

ROOT = Path(__file__).resolve().parents[3]
EVENTS = int(os.environ.get("TDS_KILL_EVENTS", "20000"))
KILLS = int(os.environ.get("TDS_KILL_COUNT", "5"))


def _start(kafka: str, dsn: str, schema: str, group: str, topic: str,
           log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka, "DATABASE_URL": dsn,
           "TDS_LOG_LEVEL": "WARNING"}
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tds.cli", "project", "--group", group, "--entity-topic",
             topic, "--sync-runs-topic", "", "--deadletter-topic", "", "--schema", schema,
             "--batch-size", "500", "--instance-id", f"{group}-0"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)


async def test_sigkill_at_random_moments_loses_and_doubles_nothing(
    pool: asyncpg.Pool, migrated: str, database_url: str, kafka_bootstrap: str,
    topic_factory: Callable[..., str], group_factory: Callable[[str], str], tmp_path: Path,
) -> None:
    topic = topic_factory("kill", partitions=3)
    pairs = list(Workload(keys=max(EVENTS // 20, 100), seed=5).stream(EVENTS))
    produce(kafka_bootstrap, topic, pairs)
    ends = end_offsets(kafka_bootstrap, topic)
    group = group_factory("kill")
    rng = random.Random(EVENTS)
    deadline = time.monotonic() + 120 + EVENTS / 500
    kills, last = 0, 0
    step = EVENTS / (KILLS + 1)  # spread the kills over the whole stream
    progress: list[int] = []
    log = tmp_path / "projector.log"
    process = _start(kafka_bootstrap, database_url, migrated, group, topic, log)
    try:
        while True:
            await asyncio.sleep(0.05)
            async with pool.acquire() as conn:
                stored = await stored_offsets(conn, group, topic)
            done = sum(stored.values())
            if all(stored.get(p, 0) >= o for p, o in ends.items() if o):
                break
            assert time.monotonic() < deadline, f"stuck at {stored} of {ends}"
            assert process.poll() is None, log.read_text()[-3000:]
            if kills < KILLS and done > last + step * rng.uniform(0.7, 1.1):
                # It is making progress: kill it at a random instant of its work.
                await asyncio.sleep(rng.uniform(0.0, 0.4))
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                kills += 1
                progress.append(done)
                async with pool.acquire() as conn:
                    last = sum((await stored_offsets(conn, group, topic)).values())
                process = _start(kafka_bootstrap, database_url, migrated, group, topic, log)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
    assert kills >= min(KILLS, 3), f"the stream ended before the kills ({progress})"
    async with pool.acquire() as conn:
        assert differences(expected(e for _, e in pairs), await actual(conn)) == []
        assert await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM audit_log GROUP BY table_name, topic, "
            "kafka_partition, kafka_offset HAVING count(*) > 1) d") == 0
        assert await stored_offsets(conn, group, topic) == ends
    print(f"{EVENTS} events, {kills} kills at stored offsets {progress}")
