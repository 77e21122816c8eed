"""JSON responses in Zoho's envelope, rendered in one place."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from simulator.errors import ZohoError

ZOHO_CODE: web.RequestKey[int | None] = web.RequestKey("zoho_code")
LIST_PAGE = web.RequestKey("list_page", bool)  # set by list handlers: faults may corrupt them


def zoho_json(request: web.Request, body: dict[str, Any], status: int = 200) -> web.Response:
    """Return a JSON response and note its Zoho code for the stats."""
    request[ZOHO_CODE] = body.get("code")
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", charset="UTF-8"
    )


def success(request: web.Request, **payload: Any) -> web.Response:
    """Return {"code":0,"message":"success", ...payload}."""
    return zoho_json(request, {"code": 0, "message": "success", **payload})


def error(request: web.Request, exc: ZohoError) -> web.Response:
    """Return a Zoho error body with its HTTP status."""
    return zoho_json(request, {"code": exc.code, "message": exc.message}, exc.status)


def plain_json(body: Any, status: int = 200) -> web.Response:
    """Return a JSON response outside the Zoho envelope (OAuth and control API)."""
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", charset="UTF-8"
    )
