"""Health, status, queue and chart history: what the dashboard's overview shows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from aiohttp import web

from api import outbound, queries
from api.auth import may_read
from api.context import API, PROJECTOR_GROUP, WORKER_GROUP, WRITER_GROUP, ApiContext
from api.kafka_state import GroupState, KafkaStateError
from api.queue_monitor import partition_row, topic_rows
from api.render import json_response
from schemas.topics import RAW_BULK, RAW_REALTIME, RETRY_PREFIX
from tds.errors import DatabaseTLSError

T = TypeVar("T")

# The guide's capacity figure: a queue above this is a backlog worth flagging.
MAX_QUEUE = 10_000


def priority(topic: str) -> str:
    """Realtime, bulk, retry or other: the seed's "priority sync queue"."""
    if topic == RAW_REALTIME:
        return "realtime"
    if topic == RAW_BULK:
        return "bulk"
    if topic.startswith(RETRY_PREFIX):
        return "retry"
    return "downstream"


async def _groups(ctx: ApiContext) -> list[GroupState] | None:
    try:
        return await ctx.inspector.groups(ctx.groups)
    except KafkaStateError:
        return None


async def _on_connection(ctx: ApiContext,
                         read: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async with ctx.db().acquire() as conn:
        return await read(conn)


async def _database_ok(ctx: ApiContext) -> tuple[bool, str]:
    try:
        async with asyncio.timeout(3):
            await ctx.db().fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError, DatabaseTLSError) as exc:
        return False, f"{type(exc).__name__}: {exc}"[:300]
    return True, "ok"


def _members(groups: list[GroupState] | None, name: str) -> int:
    return next((g.members for g in groups or () if g.group == name), 0)


def _queue_size(groups: list[GroupState] | None) -> int | None:
    """Raw events not yet processed by the workers: the seed's queue size."""
    if groups is None:
        return None
    return sum(p.lag for g in groups if g.group == WORKER_GROUP for p in g.partitions)


async def health_doc(ctx: ApiContext) -> dict[str, Any]:
    """The seed's health answer from real checks."""
    (db_ok, db_detail), groups = await asyncio.gather(_database_ok(ctx), _groups(ctx))
    # Groups read means the cluster answered; only a failed read needs the cheaper probe
    # to tell "Kafka down" from "groups unreadable".
    kafka_ok = groups is not None or await ctx.inspector.reachable()
    workers = _members(groups, WORKER_GROUP)
    projectors = _members(groups, PROJECTOR_GROUP)
    queue = _queue_size(groups)
    last: datetime | None = None
    incidents: list[str] = []
    waiting = 0
    if db_ok:
        async with ctx.db().acquire() as conn:
            last = await queries.last_sync(conn)
            incidents = await queries.offset_incidents(conn)
            waiting = await outbound.waiting(conn)
    problems = []
    if not kafka_ok:
        problems.append("kafka unreachable")
    if not db_ok:
        problems.append("postgresql unreachable")
    status = "unhealthy" if problems else "healthy"
    if not problems:
        if workers == 0:
            problems.append("no stream worker is running")
        if projectors == 0:
            problems.append("no projector is running")
        if queue is not None and queue > MAX_QUEUE:
            problems.append(f"queue {queue} exceeds {MAX_QUEUE}")
        if waiting and _members(groups, WRITER_GROUP) == 0:
            problems.append(f"{waiting} write-back commands wait and no writer is running")
        problems += incidents
        status = "degraded" if problems else "healthy"
    return {
        "status": status,
        "workers_active": workers,
        "workers_expected": ctx.settings.worker_count,
        # Which engine the live workers run (faust agents or the batched loop).
        "worker_engines": dict(next((g.engines for g in groups or ()
                                     if g.group == WORKER_GROUP), ())),
        "queue_size": queue,
        "last_sync": last,
        "problems": problems,
        "checks": {
            "kafka": {"ok": kafka_ok},
            "postgresql": {"ok": db_ok, "detail": db_detail},
            "groups": {g.group: {"state": g.state, "members": g.members, "lag": g.lag,
                                 "engines": dict(g.engines)}
                       for g in groups or ()},
        },
    }


async def health(request: web.Request) -> web.Response:
    """GET /api/tds/health: open to probes, the details only to readers of the admin API."""
    ctx = request.app[API]
    doc = await ctx.cache.get("health", lambda: health_doc(ctx))
    shown = doc if may_read(request, ctx.settings) else {"status": doc["status"]}
    return json_response(shown, status=200 if doc["status"] != "unhealthy" else 503)


async def status_doc(ctx: ApiContext) -> dict[str, Any]:
    """Lag per group/topic/partition, per-entity counts, dead letters, recent runs."""
    async def small(conn: asyncpg.Connection) -> tuple[dict[str, int], list[dict[str, Any]],
                                                         int]:
        return (await queries.entity_counts(conn), await queries.recent_runs(conn, 10),
                await queries.active_syncs(conn))

    # The two counting queries take ~7 and ~10 ms at a day's volume (20,000 dead letters,
    # 1,000,000 audit rows); on their own connections they overlap instead of adding up.
    groups, (counts, runs, active), dead, rate, writes = await asyncio.gather(
        _groups(ctx), _on_connection(ctx, small),
        _on_connection(ctx, queries.dead_letter_counts),
        _on_connection(ctx, queries.success_rate), _on_connection(ctx, outbound.counts))
    writer = next((g for g in groups or () if g.group == WRITER_GROUP), None)
    return {
        "kafka_ok": groups is not None,
        "groups": [
            {"group": g.group, "state": g.state, "members": g.members, "lag": g.lag,
             "partitions": [{"topic": p.topic, **partition_row(p)} for p in g.partitions]}
            for g in groups or ()
        ],
        "entities": counts,
        "dead_letters": dead,
        "active_syncs": active,
        "success_rate": rate,
        "recent_runs": runs,
        # Write-back: commands per status, and the writer's lag on tds.outbound.
        "outbound": {"commands": writes, "writer_lag": writer.lag if writer else None,
                     "writer_members": writer.members if writer else 0},
    }


async def status(request: web.Request) -> web.Response:
    """GET /api/tds/status."""
    ctx = request.app[API]
    return json_response(await ctx.cache.get("status", lambda: status_doc(ctx)))


def _consumption_rate(ctx: ApiContext, groups: list[GroupState]) -> float:
    """Messages/s the worker group consumed between this call and an earlier one."""
    consumed = sum(max(0, p.committed or 0) for g in groups if g.group == WORKER_GROUP
                   for p in g.partitions)
    now = time.monotonic()
    samples = ctx.consumed_samples
    samples.append((now, consumed))
    while len(samples) > 2 and now - samples[0][0] > 60:
        samples.pop(0)
    then, before = samples[0]
    return (consumed - before) / (now - then) if now - then > 0.5 else 0.0


async def queue_doc(ctx: ApiContext) -> dict[str, Any]:
    """Lag by topic and priority, by group and topic (the monitor's rows), consumption
    rate and time to drain."""
    groups = await _groups(ctx)
    if groups is None:
        raise KafkaStateError("Kafka did not answer")
    by_priority = {"realtime": 0, "bulk": 0, "retry": 0, "downstream": 0}
    by_topic: dict[str, int] = {}
    partitions = []
    for group in groups:
        for p in group.partitions:
            kind = priority(p.topic)
            by_priority[kind] += p.lag
            by_topic[p.topic] = by_topic.get(p.topic, 0) + p.lag
            partitions.append({"group": group.group, "topic": p.topic, "priority": kind,
                               **partition_row(p)})
    rate = _consumption_rate(ctx, groups)
    pending = by_priority["realtime"] + by_priority["bulk"]
    return {
        "queue_size": pending,
        "by_priority": by_priority,
        "by_topic": by_topic,
        "partitions": partitions,
        "groups": [{"group": g.group, "state": g.state, "members": g.members, "lag": g.lag,
                    "topics": topic_rows(g.partitions, priority)} for g in groups],
        "consumption_rate_per_s": rate,
        "eta_seconds": pending / rate if rate > 0 else (0.0 if pending == 0 else None),
    }


async def queue(request: web.Request) -> web.Response:
    """GET /api/tds/queue."""
    ctx = request.app[API]
    return json_response(await ctx.cache.get("queue", lambda: queue_doc(ctx)))


async def history(request: web.Request) -> web.Response:
    """GET /api/tds/history: chart series (throughput, error rate, Zoho calls, sync time)."""
    ctx = request.app[API]
    series = ctx.history.series()
    async with ctx.db().acquire() as conn:
        runs = await queries.recent_runs(conn, 100)
    series["sync_time_s"] = [
        (r["finished_at"].timestamp(), r["duration_s"]) for r in reversed(runs)
        if r["status"] == "completed" and r["duration_s"] is not None]
    return json_response(series)


async def bff_status(request: web.Request) -> web.Response:
    """GET /api/bff/tds/status: the seed's compact mobile answer."""
    ctx = request.app[API]
    doc = await ctx.cache.get("health", lambda: health_doc(ctx))
    async with ctx.db().acquire() as conn:
        active = await queries.active_syncs(conn)
    return json_response({"sync_active": active > 0, "queue_size": doc["queue_size"],
                          "last_sync": doc["last_sync"], "health": doc["status"]})


async def bff_recent(request: web.Request) -> web.Response:
    """GET /api/bff/tds/recent: the last runs and changes, compact."""
    ctx = request.app[API]
    async with ctx.db().acquire() as conn:
        runs = await queries.recent_runs(conn, 10)
        changes = await queries.recent_changes(conn, 20)
    return json_response({
        "runs": [{"run_id": r["run_id"], "type": r["run_type"], "status": r["status"],
                  "started_at": r["started_at"], "changed": r["changed"],
                  "failed": r["failed"]} for r in runs],
        "changes": changes,
    })
