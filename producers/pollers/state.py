"""The pollers' durable state in PostgreSQL: cursors (`poll_cursors`) and the run ledger
(`poll_runs`), behind a protocol so unit tests use the in-memory twin."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import asyncpg


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of the run ledger."""

    run_key: str
    run_id: str
    org_id: str
    run_type: str
    trigger: str
    entity_types: tuple[str, ...]
    owner: str
    status: str = "started"
    seen: int = 0
    sent: int = 0
    deleted: int = 0
    failed: int = 0
    error: str | None = None
    configuration: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    finished_at: datetime | None = None


class PollState(Protocol):
    """Cursors and the run ledger."""

    async def get_cursor(self, org_id: str, name: str) -> datetime | None:
        """The cursor `name` (an entity type, or `stock`), or None before the first run."""
        ...

    async def set_cursor(self, org_id: str, name: str, at: datetime) -> None:
        """Move cursor `name` (never backwards)."""
        ...

    async def claim(self, run: RunRecord, *, exclusive_s: float | None = None) -> bool:
        """Record a run as started; False when its key exists (or, with `exclusive_s`, when
        a run of the same type has beaten its heart within that many seconds)."""
        ...

    async def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Note that these runs are still going."""
        ...

    async def finish(self, run: RunRecord) -> None:
        """Store a run's final status and counts."""
        ...

    async def sweep(self, stale_after_s: float) -> list[RunRecord]:
        """Mark started runs whose heart stopped as failed and return them."""
        ...

    async def adopt(self, owner: str, org_id: str) -> list[RunRecord]:
        """Fail the scheduled runs of `org_id` that another owner left started; return them.
        Called by a new scheduler: the lock it now holds proves the old one's session ended."""
        ...

    async def run(self, run_id: str) -> RunRecord | None:
        """One run by id."""
        ...

    async def running(self, org_id: str, alive_s: float) -> list[RunRecord]:
        """The org's started runs whose heartbeat is younger than `alive_s`."""
        ...

    async def last_seen(self, org_id: str, run_type: str, entity_types: Sequence[str],
                        mode: str) -> int | None:
        """Records seen by the last completed run of this kind and mode (an estimate)."""
        ...


_COLUMNS = ("run_key, run_id, org_id, run_type, trigger, entity_types, owner, status, seen, "
            "sent, deleted, failed, error, configuration, created_at, finished_at")


def _record(row: asyncpg.Record) -> RunRecord:
    config = row["configuration"]
    if isinstance(config, str):
        config = json.loads(config)
    return RunRecord(
        run_key=row["run_key"], run_id=row["run_id"], org_id=row["org_id"],
        run_type=row["run_type"], trigger=row["trigger"],
        entity_types=tuple(row["entity_types"]), owner=row["owner"], status=row["status"],
        seen=row["seen"], sent=row["sent"], deleted=row["deleted"], failed=row["failed"],
        error=row["error"], configuration={str(k): str(v) for k, v in config.items()},
        created_at=row["created_at"], finished_at=row["finished_at"])


class PgPollState:
    """PollState over an asyncpg pool (search_path picks the schema)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get_cursor(self, org_id: str, name: str) -> datetime | None:
        """Read a cursor."""
        value: datetime | None = await self._pool.fetchval(
            "SELECT cursor_at FROM poll_cursors WHERE org_id = $1 AND entity_type = $2",
            org_id, name)
        return value

    async def set_cursor(self, org_id: str, name: str, at: datetime) -> None:
        """Upsert a cursor, keeping the later time."""
        await self._pool.execute(
            """INSERT INTO poll_cursors (org_id, entity_type, cursor_at) VALUES ($1, $2, $3)
               ON CONFLICT (org_id, entity_type) DO UPDATE
               SET cursor_at = GREATEST(poll_cursors.cursor_at, EXCLUDED.cursor_at),
                   updated_at = now()""",
            org_id, name, at)

    async def claim(self, run: RunRecord, *, exclusive_s: float | None = None) -> bool:
        """Insert the ledger row unless the key exists or a same-type run is alive."""
        args: list[object] = [run.run_key, run.run_id, run.org_id, run.run_type, run.trigger,
                              list(run.entity_types), run.owner, run.status,
                              json.dumps(run.configuration)]
        guard = ""
        if exclusive_s is not None:
            guard = (" WHERE NOT EXISTS (SELECT 1 FROM poll_runs WHERE org_id = $3"
                     " AND run_type = $4 AND status = 'started'"
                     " AND heartbeat_at > now() - make_interval(secs => $10::float8))")
            args.append(exclusive_s)
        key = await self._pool.fetchval(
            "INSERT INTO poll_runs (run_key, run_id, org_id, run_type, trigger, entity_types,"
            " owner, status, configuration)"
            " SELECT $1, $2, $3, $4, $5, $6::text[], $7, $8, $9::jsonb" + guard
            + " ON CONFLICT DO NOTHING RETURNING run_key", *args)
        return key is not None

    async def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Touch the runs' heartbeat."""
        if run_ids:
            await self._pool.execute(
                "UPDATE poll_runs SET heartbeat_at = now() WHERE run_id = ANY($1::text[])"
                " AND status = 'started'", list(run_ids))

    async def finish(self, run: RunRecord) -> None:
        """Write the final row."""
        await self._pool.execute(
            """UPDATE poll_runs SET status = $2, seen = $3, sent = $4, deleted = $5,
                   failed = $6, error = $7, finished_at = now(), heartbeat_at = now()
               WHERE run_id = $1""",
            run.run_id, run.status, run.seen, run.sent, run.deleted, run.failed, run.error)

    async def sweep(self, stale_after_s: float) -> list[RunRecord]:
        """Fail runs whose owner stopped beating."""
        rows = await self._pool.fetch(
            f"""UPDATE poll_runs SET status = 'failed', finished_at = now(),
                   error = 'the poller running it stopped (no heartbeat for '
                           || $1::float8 || ' s)'
               WHERE status = 'started' AND heartbeat_at < now() - make_interval(secs => $1)
               RETURNING {_COLUMNS}""",
            stale_after_s)
        return [_record(r) for r in rows]

    async def adopt(self, owner: str, org_id: str) -> list[RunRecord]:
        """Fail scheduled runs a previous scheduler left started."""
        rows = await self._pool.fetch(
            f"""UPDATE poll_runs SET status = 'failed', finished_at = now(),
                   error = 'the scheduler running it lost its lock (' || owner || ' is gone)'
               WHERE status = 'started' AND trigger = 'schedule' AND org_id = $2
                   AND owner <> $1
               RETURNING {_COLUMNS}""",
            owner, org_id)
        return [_record(r) for r in rows]

    async def run(self, run_id: str) -> RunRecord | None:
        """One run by id."""
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM poll_runs WHERE run_id = $1", run_id)
        return None if row is None else _record(row)

    async def running(self, org_id: str, alive_s: float) -> list[RunRecord]:
        """The org's started runs whose heartbeat is younger than `alive_s`, oldest first."""
        rows = await self._pool.fetch(
            f"""SELECT {_COLUMNS} FROM poll_runs WHERE org_id = $1 AND status = 'started'
                   AND heartbeat_at > now() - make_interval(secs => $2::float8)
               ORDER BY created_at""", org_id, alive_s)
        return [_record(r) for r in rows]

    async def last_seen(self, org_id: str, run_type: str, entity_types: Sequence[str],
                        mode: str) -> int | None:
        """Seen count of the newest completed run with the same type, entities and mode."""
        value: int | None = await self._pool.fetchval(
            """SELECT seen FROM poll_runs WHERE org_id = $1 AND run_type = $2
                   AND entity_types = $3::text[] AND status = 'completed'
                   AND configuration->>'mode' = $4
               ORDER BY created_at DESC LIMIT 1""",
            org_id, run_type, list(entity_types), mode)
        return value


class MemoryPollState:
    """PollState in a dict, for unit tests."""

    def __init__(self) -> None:
        self.cursors: dict[tuple[str, str], datetime] = {}
        self.runs: dict[str, RunRecord] = {}
        self.beats: dict[str, datetime] = {}

    async def get_cursor(self, org_id: str, name: str) -> datetime | None:
        """Read a cursor."""
        return self.cursors.get((org_id, name))

    async def set_cursor(self, org_id: str, name: str, at: datetime) -> None:
        """Keep the later time."""
        old = self.cursors.get((org_id, name))
        self.cursors[(org_id, name)] = at if old is None else max(old, at)

    async def claim(self, run: RunRecord, *, exclusive_s: float | None = None) -> bool:
        """Insert unless present."""
        if run.run_key in self.runs:
            return False
        now = datetime.now(UTC)
        if exclusive_s is not None and any(
                r.status == "started" and r.run_type == run.run_type and r.org_id == run.org_id
                and self.beats[r.run_key] > now - timedelta(seconds=exclusive_s)
                for r in self.runs.values()):
            return False
        self.runs[run.run_key] = replace(run, created_at=now)
        self.beats[run.run_key] = now
        return True

    async def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Touch."""
        now = datetime.now(UTC)
        for key, r in self.runs.items():
            if r.run_id in run_ids:
                self.beats[key] = now

    async def finish(self, run: RunRecord) -> None:
        """Store the final row."""
        for key, r in self.runs.items():
            if r.run_id == run.run_id:
                self.runs[key] = replace(run, created_at=r.created_at,
                                         finished_at=datetime.now(UTC))

    async def sweep(self, stale_after_s: float) -> list[RunRecord]:
        """Fail stale runs."""
        limit = datetime.now(UTC) - timedelta(seconds=stale_after_s)
        out = []
        for key, r in list(self.runs.items()):
            if r.status == "started" and self.beats[key] < limit:
                self.runs[key] = replace(r, status="failed", error="the poller stopped")
                out.append(self.runs[key])
        return out

    async def adopt(self, owner: str, org_id: str) -> list[RunRecord]:
        """Fail scheduled runs another owner left started."""
        out = []
        for key, r in list(self.runs.items()):
            if (r.status == "started" and r.trigger == "schedule" and r.org_id == org_id
                    and r.owner != owner):
                self.runs[key] = replace(r, status="failed", error="the scheduler changed")
                out.append(self.runs[key])
        return out

    async def run(self, run_id: str) -> RunRecord | None:
        """One run by id."""
        return next((r for r in self.runs.values() if r.run_id == run_id), None)

    async def running(self, org_id: str, alive_s: float) -> list[RunRecord]:
        """Started runs with a fresh heartbeat."""
        limit = datetime.now(UTC) - timedelta(seconds=alive_s)
        return [r for key, r in self.runs.items() if r.org_id == org_id
                and r.status == "started" and self.beats[key] > limit]

    async def last_seen(self, org_id: str, run_type: str, entity_types: Sequence[str],
                        mode: str) -> int | None:
        """Seen count of the newest completed matching run."""
        done = [r for r in self.runs.values() if r.status == "completed"
                and r.org_id == org_id and r.run_type == run_type
                and list(r.entity_types) == list(entity_types)
                and r.configuration.get("mode") == mode]
        return done[-1].seen if done else None
