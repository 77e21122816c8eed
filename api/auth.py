"""Bearer-token check for admin writes (constant-time)."""

from __future__ import annotations

import hmac

from aiohttp import web

from api.errors import Unauthorized
from tds.secret import Secret


def require_token(request: web.Request, token: Secret) -> None:
    """Raise Unauthorized unless `Authorization: Bearer <TDS_API_TOKEN>` is sent."""
    if not token:
        raise Unauthorized("admin writes are disabled: set TDS_API_TOKEN to enable them")
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise Unauthorized("send Authorization: Bearer <TDS_API_TOKEN>")
    if not hmac.compare_digest(presented.strip().encode(), token.reveal().encode()):
        raise Unauthorized("the bearer token is not valid")
