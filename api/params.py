"""Query-string parsing with errors that name the parameter."""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from api.errors import BadRequest


def int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """A whole number in [lo, hi]."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw!r} is not a whole number ({lo}-{hi})") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name}={value} is out of range ({lo}-{hi})")
    return value


def choice_param(request: web.Request, name: str, options: Collection[str]) -> str | None:
    """One of `options`, or None when absent."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in options:
        raise BadRequest(f"{name}={raw!r} is not one of {', '.join(sorted(options))}")
    return raw


def text_param(request: web.Request, name: str, max_len: int = 200) -> str | None:
    """Free text up to `max_len` characters, or None."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_len or "\x00" in raw:
        raise BadRequest(f"{name} is longer than {max_len} characters or holds a NUL")
    return raw
