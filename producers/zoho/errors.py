"""Errors of the Zoho client: every failure of a Zoho call maps to one of these.

`retriable` tells a caller whether trying again later can succeed; `retry_after_s`, when
set, says how long to wait first. Driver errors (aiohttp, asyncpg) never leave the client.
"""

from __future__ import annotations

from datetime import datetime

from tds.errors import TDSError


class ZohoError(TDSError):
    """Root of every Zoho client error; carries Zoho's HTTP status and body `code`."""

    retriable = False
    zoho_message: str | None = None  # Zoho's own `message`, when it answered one

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        endpoint: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.endpoint = endpoint
        self.retry_after_s = retry_after_s


class ZohoConfigError(ZohoError):
    """Credentials or organization id are missing: set ZOHO_* variables."""


class ZohoTokenError(ZohoError):
    """The accounts server refused the refresh token or client (invalid_client, invalid_code)."""


class ZohoTokenThrottled(ZohoError):
    """The accounts server blocked token requests ("Access Denied", too many requests)."""

    retriable = True


class ZohoAuthError(ZohoError):
    """The API refused the access token even after one forced refresh (401, code 14 or 57)."""


class ZohoOrganizationError(ZohoError):
    """The organization id is wrong for these credentials (400, code 6041)."""


class ZohoNotFound(ZohoError):
    """The record or URL does not exist (404, or code 1002)."""


class ZohoBadRequest(ZohoError):
    """Zoho refused the request's parameters (400, e.g. code 2 invalid value)."""


class ZohoRateLimited(ZohoError):
    """The per-minute request budget is spent (429, code 44); retry after the window."""

    retriable = True


class ZohoConcurrencyLimited(ZohoError):
    """Too many requests in flight for the organization (429, code 1070)."""

    retriable = True


class ZohoDailyLimitExceeded(ZohoError):
    """The daily request budget is spent (429, code 45); calls are suspended until reset."""

    retriable = True

    def __init__(
        self,
        message: str,
        *,
        resume_at: datetime,
        retry_after_s: float,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message, status=429, code=45, endpoint=endpoint,
                         retry_after_s=retry_after_s)
        self.resume_at = resume_at


class ZohoBudgetUnavailable(ZohoError):
    """The shared request budget (PostgreSQL) could not be read; retried with backoff."""

    retriable = True


class ZohoServerError(ZohoError):
    """Zoho answered 5xx (or code 1000, internal error)."""

    retriable = True


class ZohoTimeout(ZohoError):
    """Zoho did not answer in time, or the connection failed."""

    retriable = True


class ZohoBadResponse(ZohoError):
    """Zoho's answer was not the JSON envelope expected (truncated or malformed page)."""

    retriable = True


class ZohoApiError(ZohoError):
    """Any other non-zero Zoho `code` or unexpected HTTP status."""
