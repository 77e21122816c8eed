"""Projector benchmark: events/s from tds.entity.synced into PostgreSQL, in one run, for

- the projector (COPY staging, bulk upsert with the version rule, audit, offsets in the
  same transaction), one process and two processes in one group;
- a per-row consumer as a competent user writes one: one `INSERT … ON CONFLICT DO UPDATE
  … WHERE newer` per event (and its child rows), all of one poll's events (up to
  --batch-size) in one transaction, `synchronous_commit=off` as the projector, Kafka offsets
  committed after each transaction, one thread hop per poll;
- dlt loading the same records (merge on the key, dlt's own child tables);
- replay: `tds replay` of every model from the same topic;
- floors (`bench.projector.floors`): Kafka consume alone, decode alone, and PostgreSQL
  alone (the projector's transactions, and a bare COPY) on the same events.

    python -m bench.projector [--events 100000] [--batch-size 2000] [--skip-dlt] [--skip-peers]

Writes bench/out/projector-<time>.json and .md. Uses the Kafka and PostgreSQL of
.tds/services.env (or the environment); everything it creates is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench.projector import floors
from bench.projector.events import Workload
from projections.catalog import MODELS
from projections.database import open_pool
from projections.projector import ProjectorTopics, decode_entity, run
from projections.rebuild import Rebuild
from projections.sql import child_columns, main_columns, q
from schemas.codec import default_codec
from tds.kafka import client_config, consumer_config, producer_config
from tds.metrics import Metrics
from tds.migrate import apply
from tds.retry import RetryPolicy
from tds.settings import find_services_env, load_env_file

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out"
MIGRATIONS = ROOT / "projections" / "migrations"
# What the per-row peer does, as the report's ratio names it.
PER_ROW_DOES = ("per-row upsert, one transaction per poll of up to {batch:,} events, "
                "synchronous_commit=off")


def _ends(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer(client_config(bootstrap, **{"group.id": "bench-marks"}))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in meta.partitions}
    finally:
        consumer.close()


async def _caught_up(dsn: str, schema: str, group: str, topic: str, ends: dict[int, int],
                     timeout_s: float) -> tuple[float, int]:
    """Wait for the group to reach `ends`; returns when and where its first batch landed."""
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    deadline = time.monotonic() + timeout_s
    first: tuple[float, int] | None = None
    try:
        while True:
            rows = await conn.fetch("SELECT partition, next_offset FROM projection_offsets "
                                    "WHERE consumer_group = $1 AND topic = $2", group, topic)
            stored = {r["partition"]: r["next_offset"] for r in rows}
            if first is None and stored:
                first = (time.perf_counter(), sum(stored.values()))
            if all(stored.get(p, 0) >= o for p, o in ends.items() if o):
                return first or (time.perf_counter(), 0)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{group} not caught up: {stored} < {ends}")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


class Bench:
    """One benchmark run: a topic of `events` events and a schema per contender."""

    def __init__(self, bootstrap: str, dsn: str, events: int, batch_size: int) -> None:
        self.bootstrap, self.dsn, self.events, self.batch_size = bootstrap, dsn, events, batch_size
        tag = uuid.uuid4().hex[:8]
        self.topic = f"bench.projector.{tag}"
        self.tag = tag
        self.schemas: list[str] = []
        self.results: dict[str, Any] = {}

    async def schema(self, name: str) -> str:
        schema = f"bench_{name}_{self.tag}"
        await apply(self.dsn, MIGRATIONS, schema=schema)
        self.schemas.append(schema)
        return schema

    def produce(self) -> None:
        admin = AdminClient(client_config(self.bootstrap))
        admin.create_topics([NewTopic(self.topic, num_partitions=3, replication_factor=1)]
                            )[self.topic].result(30)
        producer = Producer(producer_config(self.bootstrap, **{"linger.ms": 20}))
        started = time.perf_counter()
        count = 0
        for key, event in Workload(keys=max(self.events // 10, 100)).stream(self.events):
            while True:
                try:
                    producer.produce(self.topic, key=key, value=event.encode())
                    break
                except BufferError:
                    producer.poll(0.1)
            count += 1
        producer.flush(120)
        elapsed = time.perf_counter() - started
        self.results["produce (Avro encode + Kafka)"] = {
            "events": count, "seconds": elapsed, "events_per_s": count / elapsed}

    async def projector(self, members: int = 1) -> None:
        schema = await self.schema(f"proj{members}")
        group = f"bench-proj{members}-{self.tag}"
        ends = _ends(self.bootstrap, self.topic)
        started = time.perf_counter()
        if members == 1:
            pool = await open_pool(self.dsn, schema=schema, synchronous_commit=False)
            stop, metrics = asyncio.Event(), Metrics.create()
            task = asyncio.create_task(run(
                pool=pool, bootstrap=self.bootstrap, group=group,
                topics=ProjectorTopics(self.topic, "", ""), policy=RetryPolicy((60.0,)),
                metrics=metrics, stop=stop, batch_size=self.batch_size,
                max_batch_size=max(self.batch_size, 5000), max_wait_s=0.05))
            try:
                first = await _caught_up(self.dsn, schema, group, self.topic, ends, 600)
            finally:
                elapsed = time.perf_counter() - started
                stop.set()
                await task
                await pool.close()
        else:
            env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                   "DATABASE_URL": self.dsn, "TDS_LOG_LEVEL": "WARNING"}
            procs = [await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tds.cli", "project", "--group", group,
                "--entity-topic", self.topic, "--sync-runs-topic", "", "--deadletter-topic",
                "", "--schema", schema, "--batch-size", str(self.batch_size),
                "--max-wait-ms", "50", cwd=ROOT, env=env) for _ in range(members)]
            try:
                first = await _caught_up(self.dsn, schema, group, self.topic, ends, 600)
            finally:
                elapsed = time.perf_counter() - started
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    await asyncio.wait_for(proc.wait(), 30)
        name = "projector" if members == 1 else f"projector x{members} processes"
        total = sum(ends.values())
        steady = (total - first[1]) / max(started + elapsed - first[0], 1e-9)
        self.results[name] = {
            "events": total, "seconds": elapsed, "events_per_s": total / elapsed,
            "steady_events_per_s": steady,
            "note": ("process start, " if members > 1 else "") + "group join included; "
            f"after the first batch: {steady:,.0f} ev/s"}
        if members == 1:
            sample = metrics.registry.get_sample_value
            mean = ((sample("tds_projector_batch_messages_sum") or 0)
                    / (sample("tds_projector_batch_messages_count") or 1))
            self.results[name]["note"] += f"; mean batch {mean:,.0f}"
        if members == 1:
            self.results["_projector_schema"] = (schema, group)

    async def floors(self) -> None:
        total = sum(_ends(self.bootstrap, self.topic).values())
        kafka, logged = await asyncio.to_thread(
            floors.kafka, self.bootstrap, self.topic, f"bench-floor-{self.tag}", total)
        self.results["floor: Kafka consume"] = kafka
        self.results.update(floors.decode(self.topic, logged))
        size = max(self.batch_size, 5000)  # the projector's batches while it lags
        self.results["floor: PostgreSQL, projector's writes"] = await floors.postgres(
            self.dsn, await self.schema("floorpg"), self.topic, logged, size)
        self.results["floor: PostgreSQL, bare COPY"] = await floors.bare_copy(
            self.dsn, await self.schema("floorcopy"), self.topic, logged, size)

    async def per_row(self) -> None:
        schema = await self.schema("perrow")
        # The projector's own durability setting: a fair peer does not pay for a WAL flush
        # the contender skips.
        conn = await asyncpg.connect(self.dsn, server_settings={"search_path": schema,
                                                                "synchronous_commit": "off"})
        upserts, children = {}, {}
        for m in MODELS:
            cols = [c for c, _ in main_columns(m)]
            values = ", ".join(f"${i}::jsonb" if c == "raw" else f"${i}"
                               for i, c in enumerate(cols, 1))
            updates = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in cols[2:])
            upserts[m.name] = (
                f"INSERT INTO {q(m.table)} AS t ({', '.join(q(c) for c in cols)}) "
                f"VALUES ({values}) ON CONFLICT (org_id, {q(m.id_column)}) DO UPDATE SET "
                f"{updates} WHERE (t.version_modified_at, t.version_offset, t.event_id) < "
                "(EXCLUDED.version_modified_at, EXCLUDED.version_offset, EXCLUDED.event_id) "
                f"RETURNING 1")
            for child in m.children:
                ccols = [c for c, _ in child_columns(m, child)]
                children[child.table] = (
                    f"DELETE FROM {q(child.table)} WHERE org_id = $1 AND {q(m.id_column)} = $2",
                    f"INSERT INTO {q(child.table)} ({', '.join(q(c) for c in ccols)}) VALUES "
                    f"({', '.join(f'${i}' for i in range(1, len(ccols) + 1))})")
        consumer = Consumer(consumer_config(self.bootstrap, f"bench-perrow-{self.tag}"))
        consumer.subscribe([self.topic])
        codec = default_codec()
        total, done = sum(_ends(self.bootstrap, self.topic).values()), 0
        started = time.perf_counter()
        try:
            while done < total:
                # One hop to a thread per poll of up to a batch, not per message.
                polled = await asyncio.to_thread(consumer.consume, self.batch_size, 1.0)
                batch = [m for m in polled if m.error() is None]
                if not batch:
                    continue
                async with conn.transaction():  # one commit per poll, not per statement
                    for message in batch:
                        await self._per_row_event(conn, message, codec, upserts, children)
                consumer.commit(asynchronous=True)  # after the rows: at least once
                done += len(batch)
            elapsed = time.perf_counter() - started
        finally:
            consumer.close()
            await conn.close()
        self.results["per-row INSERT ... ON CONFLICT"] = {
            "events": total, "seconds": elapsed, "events_per_s": total / elapsed,
            "does": (does := PER_ROW_DOES.format(batch=self.batch_size)),
            "note": f"{does}; no audit, offsets in Kafka only"}

    async def _per_row_event(self, conn: asyncpg.Connection, message: Message, codec: Any,
                             upserts: dict[str, str], children: dict[str, tuple[str, str]]
                             ) -> None:
        event = decode_entity(message.value() or b"", codec, topic=self.topic,
                              partition=message.partition() or 0, offset=message.offset() or 0)
        for m in MODELS:
            if event.entity_type not in m.entity_types or not m.accepts(event):
                continue
            if event.op == "delete":
                await conn.execute(
                    f"DELETE FROM {q(m.table)} WHERE org_id = $1 AND {q(m.id_column)} = $2 "
                    "AND (version_modified_at, version_offset) < ($3, $4)", event.org_id,
                    event.entity_id, event.version_modified_at, event.version_offset)
                continue
            if await conn.fetchval(upserts[m.name], *m.row(event)) and m.children:
                for child in m.children:
                    delete, insert = children[child.table]
                    await conn.execute(delete, event.org_id, event.entity_id)
                    rows = m.child_rows(child, event)
                    if rows:
                        await conn.executemany(insert, rows)

    def dlt(self) -> None:
        # dlt insists on a password; the local server trusts loopback and ignores it.
        os.environ.setdefault("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", "unused")
        dlt: Any = importlib.import_module("dlt")
        schema = f"bench_dlt_{self.tag}"
        self.schemas += [schema, f"{schema}_staging"]  # dlt merges through a staging schema
        codec = default_codec()
        total = sum(_ends(self.bootstrap, self.topic).values())

        def records() -> Iterator[dict[str, Any]]:
            consumer = Consumer(consumer_config(self.bootstrap, f"bench-dlt-{self.tag}"))
            consumer.subscribe([self.topic])
            done = 0
            try:
                while done < total:
                    for message in consumer.consume(5000, 1.0):
                        if message.error():
                            continue
                        done += 1
                        e = decode_entity(message.value() or b"", codec, topic=self.topic,
                                          partition=message.partition() or 0,
                                          offset=message.offset() or 0)
                        yield {**(e.record or {}), "org_id": e.org_id, "entity_id": e.entity_id,
                               "entity_type": e.entity_type, "op": e.op,
                               "version_modified_at": e.version_modified_at,
                               "version_offset": e.version_offset, "event_id": e.event_id,
                               "raw": e.raw_json}
            finally:
                consumer.close()

        table: Callable[[dict[str, Any]], str] = lambda row: str(row["entity_type"])  # noqa: E731
        resource = dlt.resource(
            records, name="entity_synced", table_name=table,
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            primary_key=("org_id", "entity_id"), columns={"raw": {"data_type": "json"}})
        resource.apply_hints(merge_key=("org_id", "entity_id"))
        with tempfile.TemporaryDirectory() as folder:
            pipeline = dlt.pipeline(pipeline_name=f"bench_{self.tag}",
                                    destination=dlt.destinations.postgres(credentials=self.dsn),
                                    dataset_name=schema, pipelines_dir=folder)
            started = time.perf_counter()
            pipeline.run(resource)
            elapsed = time.perf_counter() - started
        self.results["dlt (merge, postgres)"] = {
            "events": total, "seconds": elapsed, "events_per_s": total / elapsed,
            "note": f"dlt {dlt.__version__}: extract + normalize + load in one run"}

    async def replay(self) -> None:
        schema, group = self.results.pop("_projector_schema")
        pool = await open_pool(self.dsn, schema=schema, synchronous_commit=False)
        try:
            report = await Rebuild(pool=pool, bootstrap=self.bootstrap, topic=self.topic,
                                   group=group, models=MODELS, batch_size=5000).run()
        finally:
            await pool.close()
        self.results["replay (all models, swap)"] = {
            "events": report.events, "seconds": report.seconds, "events_per_s": report.rate,
            "identical": report.identical, "note": "build + index + checksum + swap"}

    async def cleanup(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            for schema in self.schemas:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()
        admin = AdminClient(client_config(self.bootstrap))
        for future in admin.delete_topics([self.topic]).values():
            future.result(30)


def _write(results: dict[str, Any], args: argparse.Namespace) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    meta = {"when": stamp, "events": args.events, "batch_size": args.batch_size,
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_average": os.getloadavg()}
    (OUT / f"projector-{stamp}.json").write_text(json.dumps(
        {"meta": meta, "results": results}, indent=2, default=str))
    lines = [f"# Projector benchmark {stamp}", "",
             f"{args.events:,} events of tds.entity.synced (3 partitions), batch size "
             f"{args.batch_size}, {os.cpu_count()} CPUs shared with Kafka and PostgreSQL "
             f"(load average at the end {meta['load_average'][0]:.2f}).", "",
             "| contender | events | seconds | events/s | load (1 min) | note |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['events']:,} | {r.get('seconds', 0):.1f} | "
                     f"{r['events_per_s']:,.0f} | {r.get('load_1m', 0):.2f} | "
                     f"{r.get('note', '')} |")
    path = OUT / f"projector-{stamp}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _stamp_load(results: dict[str, Any]) -> None:
    """Note the load average right after each contender (another benchmark may share the
    machine: figures are comparable only at similar load)."""
    for name, result in results.items():
        if not name.startswith("_") and "load_1m" not in result:
            result["load_1m"] = os.getloadavg()[0]


async def _main(args: argparse.Namespace) -> int:
    services = find_services_env()
    if services is not None:
        load_env_file(services)
    bootstrap, dsn = os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["DATABASE_URL"]
    bench = Bench(bootstrap, dsn, args.events, args.batch_size)
    try:
        print(f"producing {args.events:,} events ...", file=sys.stderr)
        bench.produce()
        _stamp_load(bench.results)
        print("projector ...", file=sys.stderr)
        await bench.projector()
        _stamp_load(bench.results)
        if args.processes > 1:
            print(f"projector x{args.processes} ...", file=sys.stderr)
            await bench.projector(args.processes)
            _stamp_load(bench.results)
        print("replay ...", file=sys.stderr)
        await bench.replay()
        _stamp_load(bench.results)
        print("floors ...", file=sys.stderr)
        await bench.floors()
        _stamp_load(bench.results)
        if not args.skip_peers:
            print("per-row consumer ...", file=sys.stderr)
            await bench.per_row()
            _stamp_load(bench.results)
        if not args.skip_dlt and not args.skip_peers:
            print("dlt ...", file=sys.stderr)
            await asyncio.to_thread(bench.dlt)
            _stamp_load(bench.results)
    finally:
        await bench.cleanup()
    path = _write(bench.results, args)
    print(path.read_text())
    return 0


def main() -> int:
    """Parse options and run."""
    parser = argparse.ArgumentParser(prog="python -m bench.projector", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=2,
                        help="also run this many projector processes in one group (1: skip)")
    parser.add_argument("--skip-dlt", action="store_true", help="leave out the dlt peer")
    parser.add_argument("--skip-peers", action="store_true",
                        help="leave out the per-row and dlt peers (the slow part)")
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
