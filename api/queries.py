"""The read side of the projections that the API asks for, as SQL in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from api.progress import run_progress
from projections.catalog import ENTITY_TABLES

_EXACT_BELOW = 200_000

RUN_COLUMNS = """run_id, org_id, run_type, source, status, entity_types, started_at, finished_at,
    expected, sent, seen, changed, unchanged, failed, deleted, error, configuration,
    event_at, entities"""
DEAD_COLUMNS = """id, added_at, status, status_changed_at, retry_count, org_id, entity_type,
    entity_id, original_topic, original_partition, original_offset, consumer_group, stage,
    attempt, first_failure_at, error_class, error_message, reason, ce_type, message_key"""


def _run(row: asyncpg.Record) -> dict[str, Any]:
    run = dict(row)
    started, finished = run["started_at"], run["finished_at"]
    run["duration_s"] = (finished - started).total_seconds() if started and finished else None
    run["progress"] = run_progress(run, orjson.loads(run.pop("entities")), datetime.now(UTC))
    return run


def _dead(row: asyncpg.Record) -> dict[str, Any]:
    dead = dict(row)
    key = dead.pop("message_key")
    dead["key"] = bytes(key).decode(errors="replace") if key is not None else None
    dead["dead_at"] = dead["added_at"]
    return dead


async def entity_counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows per read model: the planner's estimate for big tables, exact for small ones."""
    estimates = {
        row["relname"]: int(row["reltuples"])
        for row in await conn.fetch(
            "SELECT c.relname, c.reltuples FROM pg_class c "
            "WHERE c.relname = ANY($1::text[]) AND c.relkind = 'r' "
            "AND c.relnamespace = ANY(current_schemas(false)::regnamespace[])",
            list(ENTITY_TABLES.values()))
    }
    counts = {}
    for entity, table in ENTITY_TABLES.items():
        estimate = estimates.get(table, -1)
        if estimate >= _EXACT_BELOW:
            counts[entity] = estimate
        else:
            counts[entity] = await conn.fetchval(f"SELECT count(*) FROM {table}")
    return counts


async def dead_letter_counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Dead letters by status."""
    rows = await conn.fetch("SELECT status, count(*) AS n FROM dead_letters GROUP BY status")
    counts = {"pending": 0, "retried": 0, "resolved": 0}
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


async def recent_runs(conn: asyncpg.Connection, limit: int) -> list[dict[str, Any]]:
    """The latest runs, newest first."""
    rows = await conn.fetch(
        f"SELECT {RUN_COLUMNS} FROM sync_runs "
        "ORDER BY started_at DESC NULLS LAST, run_id DESC LIMIT $1", limit)
    return [_run(r) for r in rows]


RUN_ORDER = "ORDER BY started_at DESC NULLS LAST, run_id DESC"


async def list_runs(
    conn: asyncpg.Connection, *, limit: int, offset: int, status: str | None,
    run_type: str | None, entity_type: str | None,
    after: tuple[datetime | None, str] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """A filtered page of runs and the total matching.

    Only the filters given go into the statement, so each combination gets a plan that can
    use its index (`$1 IS NULL OR …` hides them from prepared statements' generic plans);
    the entity type is matched with `@>`, which the GIN index on entity_types serves.
    `after` (started_at, run_id) of the previous page's last run pages by key: the runs
    that sort after it, read from the index where the cursor left off, whatever the depth.
    """
    filters: list[str] = []
    args: list[Any] = []
    for clause, value in (("status = ${}", status), ("run_type = ${}", run_type),
                          ("entity_types @> ARRAY[${}::text]", entity_type)):
        if value is not None:
            args.append(value)
            filters.append(clause.format(len(args)))
    where = " AND ".join(filters) or "true"
    total = await conn.fetchval(f"SELECT count(*) FROM sync_runs WHERE {where}", *args)
    if after is None:
        n = len(args)
        page = await conn.fetch(
            f"SELECT {RUN_COLUMNS} FROM sync_runs WHERE {where} {RUN_ORDER} "
            f"LIMIT ${n + 1} OFFSET ${n + 2}", *args, limit, offset)
        return total, [_run(r) for r in page]
    started, cursor_id = after
    run_id: str | None = cursor_id
    rows: list[asyncpg.Record] = []
    if started is not None:  # the dated runs after the cursor, then the undated ones
        n = len(args)
        rows = list(await conn.fetch(
            f"SELECT {RUN_COLUMNS} FROM sync_runs WHERE {where} AND "
            f"(started_at, run_id) < (${n + 1}, ${n + 2}) {RUN_ORDER} LIMIT ${n + 3}",
            *args, started, run_id, limit))
        run_id = None
    if len(rows) < limit:
        n = len(args)
        tail = f" AND run_id < ${n + 1}" if run_id is not None else ""
        rows += await conn.fetch(
            f"SELECT {RUN_COLUMNS} FROM sync_runs WHERE {where} AND started_at IS NULL{tail} "
            f"{RUN_ORDER} LIMIT ${n + 1 + bool(tail)}",
            *args, *([run_id] if run_id is not None else []), limit - len(rows))
    return total, [_run(r) for r in rows]


async def get_run(conn: asyncpg.Connection, run_id: str) -> dict[str, Any] | None:
    """One run, or None."""
    row = await conn.fetchrow(
        f"SELECT {RUN_COLUMNS} FROM sync_runs WHERE run_id = $1", run_id)
    return _run(row) if row is not None else None


async def run_changes(conn: asyncpg.Connection, run_id: str, limit: int) -> list[dict[str, Any]]:
    """What a run changed, from the audit log (its log for download)."""
    rows = await conn.fetch(
        "SELECT projected_at, table_name, action, entity_type, entity_id, "
        "version_modified_at FROM audit_log WHERE sync_run_id = $1 ORDER BY id LIMIT $2",
        run_id, limit)
    return [dict(r) for r in rows]


async def list_dead_letters(
    conn: asyncpg.Connection, *, limit: int, offset: int, status: str | None,
    stage: str | None, entity_type: str | None, error_class: str | None,
) -> tuple[int, list[dict[str, Any]]]:
    """A filtered page of dead letters and the total matching."""
    where = ("($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR stage = $2) "
             "AND ($3::text IS NULL OR entity_type = $3) "
             "AND ($4::text IS NULL OR error_class = $4)")
    args = (status, stage, entity_type, error_class)
    total = await conn.fetchval(f"SELECT count(*) FROM dead_letters WHERE {where}",
                                *args)
    rows = await conn.fetch(
        f"SELECT {DEAD_COLUMNS} FROM dead_letters WHERE {where} "
        "ORDER BY added_at DESC, id LIMIT $5 OFFSET $6", *args, limit, offset)
    return total, [_dead(r) for r in rows]


async def pending_dead_letters(conn: asyncpg.Connection, ids: list[str] | None,
                               limit: int) -> list[asyncpg.Record]:
    """Pending dead letters among `ids` (all pending when None), oldest first, with what
    a retry sends back."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, dlq_topic, dlq_partition, dlq_offset, message_key, message_value, headers "
        "FROM dead_letters WHERE status = 'pending' AND ($1::text[] IS NULL OR id = ANY($1)) "
        "ORDER BY added_at, id LIMIT $2", ids, limit)
    return rows


async def last_sync(conn: asyncpg.Connection) -> datetime | None:
    """When something last synced: a run that completed, or a change projected."""
    value: datetime | None = await conn.fetchval(
        "SELECT greatest((SELECT max(finished_at) FROM sync_runs WHERE status = 'completed'), "
        "(SELECT max(projected_at) FROM audit_log))")
    return value


# How long a stored position found outside the log keeps health `degraded`: long enough
# for an operator to see it and check what the restart from the log start re-applied.
INCIDENT_WINDOW_HOURS = 24


async def offset_incidents(conn: asyncpg.Connection) -> list[str]:
    """The last day's partitions restarted from the log start, described for health."""
    rows = await conn.fetch(
        "SELECT consumer_group, topic, partition, reason, restarted_from, found_at "
        "FROM offset_incidents WHERE found_at > now() - make_interval(hours => $1) "
        "ORDER BY id DESC LIMIT 20", INCIDENT_WINDOW_HOURS)
    return [f"{r['consumer_group']} {r['topic']}[{r['partition']}]: {r['reason']}; restarted "
            f"from offset {r['restarted_from']} at {r['found_at']:%Y-%m-%d %H:%M:%S %Z}"
            for r in rows]


async def active_syncs(conn: asyncpg.Connection) -> int:
    """Runs started and not finished."""
    value: int = await conn.fetchval("SELECT count(*) FROM sync_runs WHERE status = 'started'")
    return value


async def success_rate(conn: asyncpg.Connection) -> float | None:
    """Share of the last day's outcomes that succeeded (changes vs dead letters)."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM audit_log WHERE projected_at > now() - interval '1 day')"
        " AS ok, (SELECT count(*) FROM dead_letters WHERE added_at > now() - interval '1 day')"
        " AS failed")
    assert row is not None
    total = row["ok"] + row["failed"]
    return row["ok"] / total if total else None


async def recent_changes(conn: asyncpg.Connection, limit: int) -> list[dict[str, Any]]:
    """The latest changes projected, newest first."""
    rows = await conn.fetch(
        "SELECT projected_at, entity_type, entity_id, action, source, sync_run_id "
        "FROM audit_log ORDER BY id DESC LIMIT $1", limit)
    return [dict(r) for r in rows]
