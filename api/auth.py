"""Bearer-token checks of the admin API (constant-time): writes always, reads unless opened."""

from __future__ import annotations

import hmac

from aiohttp import web

from api.errors import Unauthorized
from tds.secret import Secret
from tds.settings import Settings


def _presented(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def authenticated(request: web.Request, token: Secret) -> bool:
    """True when the request carries `Authorization: Bearer <TDS_API_TOKEN>`."""
    presented = _presented(request)
    return bool(token) and presented is not None and hmac.compare_digest(
        presented.encode(), token.reveal().encode())


def require_token(request: web.Request, token: Secret) -> None:
    """Raise Unauthorized unless `Authorization: Bearer <TDS_API_TOKEN>` is sent."""
    if not token:
        raise Unauthorized("the admin API is closed: set TDS_API_TOKEN to open it")
    if _presented(request) is None:
        raise Unauthorized("send Authorization: Bearer <TDS_API_TOKEN>")
    if not authenticated(request, token):
        raise Unauthorized("the bearer token is not valid")


def may_read(request: web.Request, settings: Settings) -> bool:
    """True when admin reads are open (TDS_API_OPEN_READS) or the request is authenticated."""
    return settings.api_open_reads or authenticated(request, settings.api_token)


def require_read(request: web.Request, settings: Settings) -> None:
    """Raise Unauthorized unless this request may read the admin API."""
    if not settings.api_open_reads:
        require_token(request, settings.api_token)
