"""The PostgreSQL edge of the consumer runtimes: driver errors translated into ours."""

from __future__ import annotations

import asyncio

import asyncpg
from asyncpg.exceptions import InternalClientError

from consumers.errors import RowRejected, StoreSchemaError, StoreUnavailable

# SQLSTATE classes: 22 data exception, 23 integrity violation, 54 value too large.
_ROW_CLASSES = ("22", "23", "54")
# 08 connection, 40 rollback (serialization, deadlock), 53 resources, 57 shutdown, 55P03 lock.
_TRANSIENT_CLASSES = ("08", "40", "53", "57", "58")
# Errors of the connection itself. InternalClientError ("cannot switch to state 15; another
# operation is in progress") came from a connection PostgreSQL shut down under a query: as
# a non-driver error it ended a projector (chaos run, PostgreSQL restart).
_CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, asyncpg.InterfaceError,
                      asyncpg.PostgresConnectionError, InternalClientError)


def translate(exc: BaseException) -> Exception:
    """Map an asyncpg/OS error to StoreUnavailable, RowRejected or StoreSchemaError."""
    if isinstance(exc, _CONNECTION_ERRORS):
        return StoreUnavailable(f"PostgreSQL unavailable: {exc!r}")
    state = getattr(exc, "sqlstate", None) or ""
    if isinstance(exc, asyncpg.DataError) or state[:2] in _ROW_CLASSES:
        return RowRejected(f"PostgreSQL refused the row: {exc}", sqlstate=state or None)
    if state[:2] in _TRANSIENT_CLASSES or state == "55P03":
        return StoreUnavailable(f"PostgreSQL aborted the transaction ({state}): {exc}")
    return StoreSchemaError(f"PostgreSQL rejected a statement ({state}): {exc}")


def is_driver_error(exc: BaseException) -> bool:
    """Whether `exc` comes from the driver or the socket (and should be translated)."""
    return isinstance(exc, (asyncpg.PostgresError, *_CONNECTION_ERRORS))
