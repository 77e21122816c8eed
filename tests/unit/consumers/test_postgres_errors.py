"""Driver errors become ours: what the loops retry, reject or stop on."""

from __future__ import annotations

import asyncpg
from asyncpg.exceptions import InternalClientError

from consumers.errors import RowRejected, StoreSchemaError, StoreUnavailable
from consumers.postgres import is_driver_error, translate


def test_a_connection_broken_under_a_query_is_unavailability() -> None:
    # What asyncpg raised when PostgreSQL shut down under a projector's transaction.
    broken = InternalClientError("cannot switch to state 15; another operation (2) is "
                                 "in progress")
    assert is_driver_error(broken)
    assert isinstance(translate(broken), StoreUnavailable)
    for exc in (ConnectionResetError(), TimeoutError(), asyncpg.InterfaceError("closed"),
                asyncpg.CannotConnectNowError("the database system is shutting down")):
        assert is_driver_error(exc) and isinstance(translate(exc), StoreUnavailable)


def test_row_and_schema_errors_keep_their_meaning() -> None:
    assert isinstance(translate(asyncpg.NotNullViolationError("null")), RowRejected)
    assert isinstance(translate(asyncpg.UndefinedTableError("no table")), StoreSchemaError)
    assert not is_driver_error(ValueError("ours"))
