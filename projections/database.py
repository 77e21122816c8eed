"""Connections of the projection processes: pool set-up and SQL statement logging."""

from __future__ import annotations

import logging
import re

import asyncpg
from asyncpg.connection import LoggedQuery

from consumers.errors import StoreUnavailable
from tds import postgres

logger = logging.getLogger(__name__)
_SPACES = re.compile(r"\s+")
_MAX_SQL = 2000


def log_query(record: LoggedQuery) -> None:
    """Log one finished statement with its duration (TDS_ENABLE_QUERY_LOGGING)."""
    sql = _SPACES.sub(" ", record.query).strip()
    if len(sql) > _MAX_SQL:
        sql = f"{sql[:_MAX_SQL]}… (+{len(sql) - _MAX_SQL} chars)"
    rows = len(record.args[0]) if record.args and isinstance(record.args[0], (list, tuple)) \
        else None
    if record.exception is not None:
        logger.info("sql %.2f ms failed (%s): %s", record.elapsed * 1000,
                    type(record.exception).__name__, sql)
    else:
        logger.info("sql %.2f ms%s: %s", record.elapsed * 1000,
                    f" ({rows} rows)" if rows is not None else "", sql)


async def open_pool(
    dsn: str,
    *,
    schema: str | None = None,
    query_logging: bool = False,
    synchronous_commit: bool = True,
    min_size: int = 1,
    max_size: int = 2,
) -> asyncpg.Pool:
    """A connection pool on `schema` (default search_path), logging statements if asked.

    `synchronous_commit=False` is safe for the projector: a transaction lost in a server
    crash loses its offsets with it, so the events are simply read again.
    """
    settings = {"application_name": "tds-projections"}
    if schema:
        settings["search_path"] = schema
    if not synchronous_commit:
        settings["synchronous_commit"] = "off"

    async def init(conn: asyncpg.Connection) -> None:
        if query_logging:
            conn.add_query_logger(log_query)

    try:
        pool = await postgres.create_pool(
            dsn, min_size=min_size, max_size=max_size, server_settings=settings, init=init)
    except (OSError, asyncpg.PostgresError) as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
    return pool
