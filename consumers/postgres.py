"""The PostgreSQL edge of the consumer runtimes: driver errors translated into ours."""

from __future__ import annotations

import asyncio

import asyncpg

from consumers.errors import RowRejected, StoreSchemaError, StoreUnavailable

# SQLSTATE classes: 22 data exception, 23 integrity violation, 54 value too large.
_ROW_CLASSES = ("22", "23", "54")
# 08 connection, 40 rollback (serialization, deadlock), 53 resources, 57 shutdown, 55P03 lock.
_TRANSIENT_CLASSES = ("08", "40", "53", "57", "58")


def translate(exc: BaseException) -> Exception:
    """Map an asyncpg/OS error to StoreUnavailable, RowRejected or StoreSchemaError."""
    if isinstance(exc, (OSError, asyncio.TimeoutError, asyncpg.InterfaceError,
                        asyncpg.PostgresConnectionError)):
        return StoreUnavailable(f"PostgreSQL unavailable: {exc!r}")
    state = getattr(exc, "sqlstate", None) or ""
    if isinstance(exc, asyncpg.DataError) or state[:2] in _ROW_CLASSES:
        return RowRejected(f"PostgreSQL refused the row: {exc}", sqlstate=state or None)
    if state[:2] in _TRANSIENT_CLASSES or state == "55P03":
        return StoreUnavailable(f"PostgreSQL aborted the transaction ({state}): {exc}")
    return StoreSchemaError(f"PostgreSQL rejected a statement ({state}): {exc}")


def is_driver_error(exc: BaseException) -> bool:
    """Whether `exc` comes from the driver or the socket (and should be translated)."""
    return isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError, OSError,
                            asyncio.TimeoutError))
