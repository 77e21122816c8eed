"""The migrations create exactly the columns the read-model definitions write."""

from __future__ import annotations

import asyncpg

from projections.catalog import MODELS
from projections.sql import child_columns, main_columns

_TYPES = {"text": "text", "numeric": "numeric", "date": "date", "jsonb": "jsonb",
          "timestamptz": "timestamp with time zone", "bigint": "bigint",
          "integer": "integer", "boolean": "boolean"}


async def test_tables_match_the_models(pool: asyncpg.Pool, migrated: str) -> None:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = $1 ORDER BY table_name, ordinal_position", migrated)
    found: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        found.setdefault(r["table_name"], []).append((r["column_name"], r["data_type"]))
    for model in MODELS:
        want = [(c, _TYPES[t]) for c, t in main_columns(model)]
        assert found[model.table] == want, model.table
        for child in model.children:
            assert found[child.table] == [(c, _TYPES[t]) for c, t in
                                          child_columns(model, child)], child.table
        assert [c for c, _ in found[model.tombstones]] == [
            "org_id", model.id_column, "version_modified_at", "version_offset", "event_id",
            "deleted_at"]
    for table in ("sync_runs", "audit_log", "dead_letters", "item_images", "products"):
        assert table in found
