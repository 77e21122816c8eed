"""Query-string parsing with errors that name the parameter."""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from api.errors import BadRequest


def _single(request: web.Request, name: str) -> str | None:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise BadRequest(f"{name} is given {len(values)} times; give it once")
    return values[0] if values else None


def int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """A whole number in [lo, hi]."""
    raw = _single(request, name)
    if raw is None:
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
    raw = _single(request, name)
    if raw is None:
        return None
    if raw not in options:
        raise BadRequest(f"{name}={raw!r} is not one of {', '.join(sorted(options))}")
    return raw


def text_param(request: web.Request, name: str, max_len: int = 200) -> str | None:
    """Free text up to `max_len` characters, or None."""
    raw = _single(request, name)
    if raw is None:
        return None
    if len(raw) > max_len or "\x00" in raw:
        raise BadRequest(f"{name} is longer than {max_len} characters or holds a NUL")
    return raw
