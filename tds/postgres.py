"""Every PostgreSQL connection and pool of TDS opens here, so `DATABASE_URL` means one thing.

asyncpg reads the libpq TLS options of the URL itself (`sslmode`, `sslrootcert`, `sslcert`,
`sslkey`, `sslcrl`); these helpers pass the URL through untouched and only turn a refused
TLS handshake into an error that names DATABASE_URL and the fix, instead of a bare
`SSLCertVerificationError` that a caller would report as "PostgreSQL unreachable" and
retry for ever.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg

from tds.errors import DatabaseTLSError


def describe(dsn: str) -> str:
    """`host:port sslmode=… sslrootcert=…` of `dsn`, without user or password."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    mode = query.get("sslmode", ["prefer"])[-1]
    root = query.get("sslrootcert", [""])[-1]
    where = f"{parts.hostname}:{parts.port or 5432}"
    return f"{where} sslmode={mode}" + (f" sslrootcert={root}" if root else "")


def tls_error(dsn: str, exc: BaseException) -> DatabaseTLSError:
    """The error for a refused handshake: what was refused, where, and what to check."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = f"certificate verify failed: {exc.verify_message}"
    else:
        reason = str(getattr(exc, "reason", None) or exc)
    return DatabaseTLSError(
        f"DATABASE_URL: TLS with PostgreSQL at {describe(dsn)} was refused: {reason}. "
        "Check that the server's certificate is signed by the sslrootcert CA and names the "
        "host of DATABASE_URL (verify-full), or change sslmode")


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    """`asyncpg.connect(dsn, **kwargs)`, a refused TLS handshake raised as DatabaseTLSError."""
    try:
        return await asyncpg.connect(dsn, **kwargs)
    except ssl.SSLError as exc:  # SSLCertVerificationError included
        raise tls_error(dsn, exc) from exc


async def create_pool(dsn: str, **kwargs: Any) -> asyncpg.Pool:
    """`asyncpg.create_pool(dsn, **kwargs)` whose every connection goes through `connect`.

    A pool opened with `min_size=0` connects on first use: its TLS failures are translated
    there too.
    """

    async def open_one(*args: Any, **connect_kwargs: Any) -> asyncpg.Connection:
        try:
            return await asyncpg.connect(*args, **connect_kwargs)
        except ssl.SSLError as exc:
            raise tls_error(dsn, exc) from exc

    pool = await asyncpg.create_pool(dsn, connect=open_one, **kwargs)
    assert pool is not None  # only None when awaited without being created
    return pool
