"""HTTP errors: handlers raise these; one middleware renders `{"error", "detail"}`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from tds.errors import TDSError

logger = logging.getLogger(__name__)


class HTTPError(TDSError):
    """Root of the API's errors; `status` is the HTTP status it renders as."""

    status = 500
    error = "internal_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(HTTPError):
    """The request is malformed (query, body, parameters)."""

    status, error = 400, "bad_request"


class Unauthorized(HTTPError):
    """Missing or wrong credentials."""

    status, error = 401, "unauthorized"


class NotFound(HTTPError):
    """No such resource."""

    status, error = 404, "not_found"


class ServiceUnavailable(HTTPError):
    """A dependency (Kafka, PostgreSQL) cannot serve the request now."""

    status, error = 503, "unavailable"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every failure as JSON in one shape; never leak a stack trace."""
    try:
        return await handler(request)
    except HTTPError as exc:
        return web.json_response({"error": exc.error, "detail": exc.detail}, status=exc.status)
    except (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
            asyncpg.CannotConnectNowError) as exc:
        logger.warning("dependency unavailable on %s %s: %s", request.method, request.path, exc)
        return web.json_response({"error": "unavailable",
                                  "detail": f"a dependency is unavailable: {type(exc).__name__}"},
                                 status=503)
    except TDSError as exc:
        if exc.retriable:  # e.g. Kafka did not answer: the client may try again
            return web.json_response({"error": "unavailable", "detail": str(exc)[:300]},
                                     status=503)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal_error",
                                  "detail": "the server failed; see its log"}, status=500)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"error": exc.reason.lower().replace(" ", "_"),
                                  "detail": exc.text or exc.reason}, status=exc.status,
                                 headers={k: v for k, v in exc.headers.items()
                                          if k.lower() == "allow"})
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal_error",
                                  "detail": "the server failed; see its log"}, status=500)
