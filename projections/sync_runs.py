"""The `sync_runs` read model, from tds.sync.runs (started / completed / failed / joined).

A run's row follows its highest-ranked event: a terminal status outranks `started`, and
among equals the later `at` (then the event id) wins, whatever order they arrive in; the
poller repeats `started` with its progress, so a running run's counts move.
`started_at` is the earliest start any event reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import asyncpg
import orjson

from schemas.events import SyncRunEvent

# `joined` outranks all: that run does no work of its own, so nothing else may close it.
RANK = {"started": 0, "completed": 1, "failed": 1, "joined": 2}

_COLUMNS = (
    "run_id", "org_id", "run_type", "source", "status", "entity_types", "started_at",
    "finished_at", "expected", "sent", "seen", "changed", "unchanged", "failed", "deleted",
    "error", "configuration", "status_rank", "event_at", "event_id", "entities",
)
# Counts that only grow while a run goes: the poller reports what it read and sent, the
# workers what was processed and changed; the row keeps the highest of each until the end.
_COUNTS = ("sent", "seen", "changed", "unchanged", "failed", "deleted")
_CASTS = {"configuration": "::jsonb", "status_rank": "::smallint", "entities": "::jsonb"}
_NEWER = ("(EXCLUDED.status_rank, EXCLUDED.event_at, EXCLUDED.event_id) > "
          "(r.status_rank, r.event_at, r.event_id)")


def _sql() -> str:
    values = ", ".join(f"${i}{_CASTS.get(c, '')}" for i, c in enumerate(_COLUMNS, 1))
    sets = []
    for column in _COLUMNS[1:]:
        if column == "started_at":
            sets.append("started_at = LEAST(r.started_at, EXCLUDED.started_at)")
        elif column == "entities":  # the workers' closing event carries none: keep the poller's
            sets.append(f"entities = CASE WHEN {_NEWER} AND EXCLUDED.entities <> '[]'::jsonb "
                        "THEN EXCLUDED.entities ELSE r.entities END")
        elif column in _COUNTS:  # while running, poller and workers each report some counts
            sets.append(f"{column} = CASE WHEN r.status_rank = 0 AND EXCLUDED.status_rank = 0 "
                        f"THEN GREATEST(r.{column}, EXCLUDED.{column}) WHEN {_NEWER} "
                        f"THEN EXCLUDED.{column} ELSE r.{column} END")
        elif column == "configuration":  # the poller's, plus what the workers add
            sets.append(f"configuration = CASE WHEN {_NEWER} THEN r.configuration || "
                        "EXCLUDED.configuration ELSE EXCLUDED.configuration || r.configuration "
                        "END")
        else:
            sets.append(f"{column} = CASE WHEN {_NEWER} THEN EXCLUDED.{column} ELSE r.{column} END")
    return (f"INSERT INTO sync_runs AS r ({', '.join(_COLUMNS)}) VALUES ({values}) "
            f"ON CONFLICT (run_id) DO UPDATE SET {', '.join(sets)}")


UPSERT = _sql()


def row(event: SyncRunEvent) -> tuple[Any, ...]:
    """The sync_runs row an event asks for."""
    terminal = event.status != "started"
    started = event.started_at or (event.at if not terminal else None)
    return (
        event.run_id, event.org_id, event.run_type, event.source, event.status,
        list(event.entity_types), started, event.at if terminal else None, event.expected,
        event.sent, event.seen, event.changed, event.unchanged, event.failed, event.deleted,
        event.error, orjson.dumps(event.configuration).decode(), RANK.get(event.status, 0),
        event.at, event.event_id,
        orjson.dumps([asdict(e) for e in event.entities]).decode(),
    )


async def apply(conn: asyncpg.Connection, events: Sequence[SyncRunEvent]) -> int:
    """Fold `events` into sync_runs; returns how many were written."""
    if events:
        # In run order, so two processes lock shared runs in the same order.
        await conn.executemany(UPSERT, sorted((row(e) for e in events), key=lambda r: r[0]))
    return len(events)
