"""The `dead_letters` read model, from tds.deadletter: one row per dead-letter message.

The row's id is the dead-letter message's own position, so projecting it again changes
nothing, and the status the API sets (retried, resolved) is never reset.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from schemas.cloudevents import header_map
from schemas.topics import parse_key
from tds.retry import (
    H_CE_TYPE,
    H_ERROR_TRACE,
    H_REASON,
    H_TIMESTAMP,
    read_state,
)

_COLUMNS = (
    "id", "dlq_topic", "dlq_partition", "dlq_offset", "added_at", "message_key",
    "message_value", "headers", "org_id", "entity_type", "entity_id", "original_topic",
    "original_partition", "original_offset", "original_timestamp", "consumer_group", "stage",
    "attempt", "first_failure_at", "error_class", "error_message", "error_trace", "reason",
    "ce_type",
)
_VALUES = ", ".join(f"${i}::jsonb" if c == "headers" else f"${i}"
                    for i, c in enumerate(_COLUMNS, 1))
INSERT = (f"INSERT INTO dead_letters ({', '.join(_COLUMNS)}) VALUES ({_VALUES}) "
          "ON CONFLICT (id) DO NOTHING")


def dead_letter_id(topic: str, partition: int, offset: int) -> str:
    """The stable id of the dead letter at this position."""
    return f"{topic}/{partition}/{offset}"


def _ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if value and value > 0 else None


def row(
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | str | None]] | None,
) -> tuple[Any, ...]:
    """The dead_letters row of one message on the dead-letter topic."""
    found = header_map(headers)
    state = read_state(headers)
    origin = state.origin

    def text(name: str) -> str | None:
        raw = found.get(name)
        return raw.decode(errors="replace").replace("\x00", "") if raw is not None else None

    org_id = entity_type = entity_id = None
    if key:
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            org_id, entity_type, entity_id = parse_key(key)
    stamp = text(H_TIMESTAMP)
    shown = {name: text(name) for name in found}
    return (
        dead_letter_id(topic, partition, offset), topic, partition, offset,
        _ms(timestamp_ms) or datetime.now(UTC), key, value, orjson.dumps(shown).decode(),
        org_id, entity_type, entity_id,
        origin.topic if origin else None, origin.partition if origin else None,
        origin.offset if origin else None,
        _ms(int(stamp)) if stamp and stamp.isdigit() else None,
        origin.group or None if origin else None, origin.stage or None if origin else None,
        state.attempt, state.first_failure_at, state.error_class,
        (state.error_message or "").replace("\x00", "") or None, text(H_ERROR_TRACE),
        text(H_REASON), text(H_CE_TYPE) or text("ce_type"),
    )


async def apply(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert the dead letters not yet known; returns how many rows were offered."""
    if rows:
        await conn.executemany(INSERT, sorted(rows, key=lambda r: str(r[0])))
    return len(rows)
