"""A write-back rig: the simulator and `tds writer` as processes, on unique topics, group
and PostgreSQL schema, with helpers to send commands and read what became of them."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from schemas.outbound import OutboundCommand, validate_command
from tds.commands.migrate import MIGRATIONS
from tds.kafka import producer_config
from tds.kafka_publisher import Publisher
from tds.migrate import apply
from tests.support.pipeline import free_port, http, wait_http

FINAL = ("applied", "rejected", "conflict")


@dataclass
class WriteRig:
    """A simulator, the writer's topics, group and schema, and the writer process."""

    org: str
    sim: str
    topics: dict[str, str]
    group: str
    schema: str
    pool: asyncpg.Pool
    publisher: Publisher
    env: dict[str, str]
    log: Path
    retry_prefix: str
    writer: subprocess.Popen[bytes] | None = None
    started: int = 0
    killed: int = 0
    _logs: list[Any] = field(default_factory=list)

    def start_writer(self) -> None:
        """Start `tds writer` (one process) unless it runs."""
        if self.writer is not None and self.writer.poll() is None:
            return
        out = open(self.log, "ab")  # noqa: SIM115  # closed with the rig
        self._logs.append(out)
        self.writer = subprocess.Popen(
            [sys.executable, "-m", "tds.cli", "writer", "--schema", self.schema,
             "--group", self.group, "--outbound-topic", self.topics["outbound"],
             "--results-topic", self.topics["results"], "--raw-topic", self.topics["raw"],
             "--per-minute", "100000", "--batch-size", "50",
             "--retry-topic-prefix", self.retry_prefix],
            env=self.env, stdout=out, stderr=out, start_new_session=True)
        self.started += 1

    def start_relay(self) -> subprocess.Popen[bytes]:
        """`tds relay` over this rig's retry topics (they go back to the outbound topic)."""
        out = open(self.log, "ab")  # noqa: SIM115  # closed with the rig
        self._logs.append(out)
        return subprocess.Popen(
            [sys.executable, "-m", "tds.cli", "relay", "--group", f"{self.group}-relay",
             "--retry-prefix", f"{self.retry_prefix}tds.retry."],
            env=self.env, stdout=out, stderr=out, start_new_session=True)

    def kill_writer(self) -> None:
        """SIGKILL the writer: no drain, no commit."""
        if self.writer is not None and self.writer.poll() is None:
            os.killpg(self.writer.pid, signal.SIGKILL)
            self.writer.wait(timeout=30)
            self.killed += 1

    def stop_writer(self) -> None:
        """SIGTERM the writer and wait for it to drain."""
        if self.writer is not None and self.writer.poll() is None:
            self.writer.send_signal(signal.SIGTERM)
            try:
                self.writer.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill_writer()

    def command(self, **values: Any) -> OutboundCommand:
        """A valid command of this org (command_id, requested_* filled in)."""
        base = {"command_id": str(uuid.uuid4()), "org_id": self.org, "requested_by": "test",
                "requested_at": datetime.now(UTC)}
        return validate_command({**base, **values})

    async def send(self, *commands: OutboundCommand) -> None:
        """Produce commands (Avro) to the outbound topic, as an ERP service would."""
        for command in commands:
            await self.publisher.publish(self.topics["outbound"], command.encode(),
                                         key=command.key())

    async def rows(self, command_ids: list[str]) -> dict[str, asyncpg.Record]:
        """The outbound_commands rows of these ids."""
        found = await self.pool.fetch("SELECT * FROM outbound_commands WHERE command_id = "
                                      "ANY($1::text[])", command_ids)
        return {r["command_id"]: r for r in found}

    async def wait_final(self, command_ids: list[str], timeout_s: float = 90) -> dict[
            str, asyncpg.Record]:
        """Wait until every command has an outcome (bounded)."""
        deadline = time.monotonic() + timeout_s
        rows: dict[str, asyncpg.Record] = {}
        while time.monotonic() < deadline:
            rows = await self.rows(command_ids)
            if len(rows) == len(command_ids) and all(r["status"] in FINAL
                                                     for r in rows.values()):
                return rows
            await asyncio.sleep(0.3)
        states = {r["status"] for r in rows.values()}
        raise AssertionError(f"{len(rows)}/{len(command_ids)} known, states {states}; "
                             f"log: {self.log}")

    def truth(self, entity: str) -> dict[str, dict[str, Any]]:
        """The simulator's ground truth of a list path ("salesorders")."""
        records: dict[str, dict[str, Any]] = http("GET", f"{self.sim}/_sim/state/{entity}")[
            "records"]
        return records


@pytest.fixture
def sim_process() -> Iterator[tuple[str, str]]:
    """A small simulator process with room in its rate limits (org id, base URL)."""
    org = str(random.randrange(10**10, 10**11))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", str(port), "--org-id", org,
         "--items", "40", "--contacts", "20", "--salesorders", "10", "--invoices", "10",
         "--per-minute", "1000000", "--daily", "10000000", "--concurrency", "50",
         "--hostile-fraction", "0"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/_sim/credentials", 60)
        yield org, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
async def rig(sim_process: tuple[str, str], database_url: str, kafka_bootstrap: str,
              pg_schema: str, topic_factory: Callable[..., str],
              group_factory: Callable[[str], str],
              tmp_path: Path) -> AsyncIterator[WriteRig]:
    org, sim = sim_process
    await apply(database_url, MIGRATIONS, schema=pg_schema)
    creds = http("GET", f"{sim}/_sim/credentials")
    topics = {"outbound": topic_factory("outbound", partitions=3),
              "results": topic_factory("results", partitions=3),
              "raw": topic_factory("raw", partitions=3)}
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "DATABASE_URL": database_url, "ZOHO_API_BASE": sim,
           "ZOHO_CLIENT_ID": creds["client_id"], "ZOHO_CLIENT_SECRET": creds["client_secret"],
           "ZOHO_REFRESH_TOKEN": creds["refresh_token"], "ZOHO_ORGANIZATION_ID": org,
           "TDS_RETRY_BACKOFF_SECONDS": "1"}
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4,
                                     server_settings={"search_path": pg_schema})
    assert pool is not None
    publisher = Publisher.create(producer_config(kafka_bootstrap))
    await publisher.start()
    # The writer's retry chain on topics of its own (the relay returns them to `outbound`).
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    chain = [f"{prefix}tds.retry.{level}" for level in (1, 2)] + [f"{prefix}tds.deadletter"]
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in chain]).values():
        future.result(timeout=30)
    env["TDS_RETRY_MAX_ATTEMPTS"] = "2"
    rig = WriteRig(org, sim, topics, group_factory("writer"), pg_schema, pool, publisher, env,
                   tmp_path / "writer.log", prefix)
    try:
        yield rig
    finally:
        for future in admin.delete_topics(chain, operation_timeout=30).values():
            future.result(timeout=30)
        rig.stop_writer()
        for out in rig._logs:
            out.close()
        await publisher.close()
        await pool.close()


def customer_and_items(rig: WriteRig, n: int = 2) -> tuple[str, list[str]]:
    """A customer id and `n` item ids from the simulator's truth."""
    contacts = rig.truth("contacts")
    customer = next(i for i, c in contacts.items() if c.get("contact_type") == "customer")
    items = [i for i, r in rig.truth("items").items() if r.get("status") == "active"][:n]
    return customer, items
