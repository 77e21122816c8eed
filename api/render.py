"""JSON answers with orjson (datetimes as ISO 8601, decimals as strings)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web


def _default(value: object) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode(errors="replace")
    raise TypeError(f"cannot render {type(value).__name__}")


def json_response(doc: Any, *, status: int = 200) -> web.Response:
    """A JSON response rendered with orjson."""
    return web.Response(body=orjson.dumps(doc, default=_default, option=orjson.OPT_UTC_Z),
                        status=status, content_type="application/json")
