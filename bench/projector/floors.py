"""Floors: what this machine does for each part of the projector on its own, on the same
events, so the projector's figure can be read against what is physically possible here.

- Kafka: consume every message of the topic, no decode;
- decode: the full Avro decode of every value, the prefix read alone, and decode plus
  the writer's row building (all of the projector's Python but the driver);
- PostgreSQL as the projector writes: the batches decoded and their rows built before
  the clock starts, then per batch one transaction of offset claim, staging COPY, upserts
  with the version rule, children, deletes and audit rows (`EntityWriter.execute`);
- PostgreSQL bare COPY: the same main and child rows as binary COPY payloads built in
  advance, into tables without keys or indexes, one transaction per batch.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from consumers.batching import Claim
from consumers.offsets import claim
from projections.catalog import MODELS
from projections.database import open_pool
from projections.projector import decode_entity
from projections.sql import child_columns, q
from projections.writer import EntityWriter, Plan, Positioned
from schemas.codec import default_codec
from schemas.fast_synced import PrefixReader
from tds.kafka import consumer_config

Result = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Logged:
    """One consumed message, kept for the later floors."""

    partition: int
    offset: int
    value: bytes


def _rate(events: int, seconds: float, note: str) -> Result:
    return {"events": events, "seconds": seconds, "events_per_s": events / max(seconds, 1e-9),
            "note": note}


def kafka(bootstrap: str, topic: str, group: str, total: int) -> tuple[Result, list[Logged]]:
    """Consume the whole topic with the projector's consumer settings, touching each value
    (partitions assigned, not joined: the group join is not the machine's limit)."""
    consumer = Consumer(consumer_config(bootstrap, group))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    out: list[Logged] = []
    started = time.perf_counter()
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    try:
        while len(out) < total:
            for message in consumer.consume(5000, 0.5):
                if message.error() is None:
                    out.append(Logged(message.partition() or 0, message.offset() or 0,
                                      message.value() or b""))
        elapsed = time.perf_counter() - started
    finally:
        consumer.close()
    return _rate(len(out), elapsed, "consume() batches of 5,000 from assignment, "
                 "no decode"), out


def _positioned(topic: str, logged: Sequence[Logged]) -> list[Positioned]:
    codec = default_codec()
    return [Positioned(decode_entity(m.value, codec, topic=topic, partition=m.partition,
                                     offset=m.offset), topic, m.partition, m.offset)
            for m in logged]


def decode(topic: str, logged: Sequence[Logged]) -> dict[str, Result]:
    """Decode alone, prefix alone, and decode plus row building, on one core."""
    started = time.perf_counter()
    events = _positioned(topic, logged)
    full = time.perf_counter() - started
    reader = PrefixReader()
    started = time.perf_counter()
    for m in logged:
        reader.read(m.value)
    prefix = time.perf_counter() - started
    writer = EntityWriter(MODELS, audit_group="floor")
    started = time.perf_counter()
    for chunk in _chunks(events, 5000):
        writer.plan(chunk)
    plan = time.perf_counter() - started
    n = len(logged)
    return {
        "floor: decode (full Avro)": _rate(n, full, f"{full / n * 1e6:.1f} µs/event, one core"),
        "floor: decode (prefix only)": _rate(n, prefix, f"{prefix / n * 1e6:.1f} µs/event"),
        "floor: decode + build rows": _rate(
            n, full + plan, f"the projector's Python without the driver: "
            f"{(full + plan) / n * 1e6:.1f} µs/event"),
    }


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _batches(topic: str, logged: Sequence[Logged], size: int
             ) -> list[tuple[list[Positioned], tuple[Claim, ...]]]:
    """Batches in consumption order with the offset claims the projector would make."""
    position: dict[int, int | None] = {}
    out = []
    for chunk in _chunks(logged, size):
        last: dict[int, int] = {}
        for m in chunk:
            last[m.partition] = m.offset
        claims = tuple(Claim(topic, p, position.get(p), end + 1) for p, end in sorted(last.items()))
        for p, end in last.items():
            position[p] = end + 1
        out.append((_positioned(topic, chunk), claims))
    return out


async def postgres(dsn: str, schema: str, topic: str, logged: Sequence[Logged],
                   batch_size: int) -> Result:
    """The projector's transactions with everything before the driver done in advance."""
    writer = EntityWriter(MODELS, audit_group="floor")
    plans: list[tuple[Plan, tuple[Claim, ...]]] = [
        (writer.plan(events), claims) for events, claims in _batches(topic, logged, batch_size)]
    pool = await open_pool(dsn, schema=schema, synchronous_commit=False)
    try:
        async with pool.acquire() as conn:
            await writer.prepare(conn)
            started = time.perf_counter()
            for plan, claims in plans:
                async with conn.transaction():
                    await claim(conn, "floor", claims)
                    await writer.execute(conn, plan)
            elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    return _rate(len(logged), elapsed, f"{len(plans)} transactions of {batch_size:,}: claim, "
                 "stage COPY, upsert/delete with version rule and audit; rows built before")


async def bare_copy(dsn: str, schema: str, topic: str, logged: Sequence[Logged],
                    batch_size: int) -> Result:
    """Binary COPY of the same rows, payloads built in advance, into unindexed tables."""
    writer = EntityWriter(MODELS, audit_group=None)
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema,
                                                       "synchronous_commit": "off"})
    try:
        tables = {t: f"{t}__bare" for m in MODELS
                  for t in (m.table, *(c.table for c in m.children))}
        for table, bare in tables.items():
            await conn.execute(f"CREATE TABLE {q(bare)} (LIKE {q(table)})")
        payloads: list[list[tuple[str, list[str], bytes]]] = []
        for events, _ in _batches(topic, logged, batch_size):
            batch = []
            for part in writer.plan(events).models:
                model = part.model
                width = len(model.column_names)
                copies = [(model.table, list(model.column_names),
                           [r[:width] for r in part.rows if r[-1] == "upsert"])]
                for child, by_key in zip(model.children, part.children, strict=True):
                    copies.append((child.table, [c for c, _ in child_columns(model, child)],
                                   [r for rows in by_key.values() for r in rows]))
                for table, columns, rows in copies:
                    if not rows:
                        continue
                    # Encode once through the driver, then keep the server's binary form.
                    await conn.copy_records_to_table(tables[table], records=rows,
                                                     columns=columns)
                    out = io.BytesIO()
                    await conn.copy_from_table(tables[table], output=out, columns=columns,
                                               format="binary")
                    await conn.execute(f"TRUNCATE {q(tables[table])}")
                    batch.append((tables[table], columns, out.getvalue()))
            payloads.append(batch)
        started = time.perf_counter()
        for batch in payloads:
            async with conn.transaction():
                for bare, columns, data in batch:
                    await conn.copy_to_table(bare, source=io.BytesIO(data), columns=columns,
                                             format="binary")
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    return _rate(len(logged), elapsed, "same main and child rows, binary payloads built "
                 "before, no keys or indexes, no audit, no staging")
