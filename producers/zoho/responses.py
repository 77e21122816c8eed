"""Turn one HTTP answer from the Zoho API into a parsed envelope or one of our errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from producers.zoho.errors import (
    ZohoApiError,
    ZohoAuthError,
    ZohoBadRequest,
    ZohoBadResponse,
    ZohoConcurrencyLimited,
    ZohoError,
    ZohoNotFound,
    ZohoOrganizationError,
    ZohoRateLimited,
    ZohoServerError,
)

# 400 codes that say the request itself is wrong: retrying cannot help.
FATAL_400_CODES = frozenset({2, 4, 1038, 6041, 9017})


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP response: status, headers (case-insensitive copy) and body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    content_type: str = ""
    envelope: dict[str, Any] | None = field(default=None, repr=False)


def parse_envelope(body: bytes) -> dict[str, Any] | None:
    """The JSON object of a body, or None when it is not one (truncated, HTML, binary)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _code(envelope: dict[str, Any] | None) -> int | None:
    if envelope is None:
        return None
    raw = envelope.get("code")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        return int(raw)
    return None


def classify(answer: Answer, endpoint: str) -> ZohoError | None:
    """The error this answer means, or None when it is a success (code 0); the error's
    `zoho_message` is Zoho's own `message`, as Zoho worded it."""
    error = _classify(answer, endpoint)
    if error is not None and answer.envelope is not None:
        found = answer.envelope.get("message")
        error.zoho_message = str(found) if found is not None else None
    return error


def _classify(answer: Answer, endpoint: str) -> ZohoError | None:
    status = answer.status
    envelope = answer.envelope
    code = _code(envelope)
    message = str(envelope.get("message", "")) if envelope else answer.body[:200].decode(
        "utf-8", "replace")
    where = f"{endpoint}: HTTP {status}" + (f" code {code}" if code is not None else "")
    kwargs: dict[str, Any] = {"status": status, "code": code, "endpoint": endpoint}
    if status == 401:
        return ZohoAuthError(f"{where}: {message} (access token refused)", **kwargs)
    if status == 429 or code in (44, 45, 1070):
        if code == 1070:
            return ZohoConcurrencyLimited(f"{where}: {message}", **kwargs)
        return ZohoRateLimited(f"{where}: {message}", **kwargs)  # 45 handled by the caller
    if code == 1002 or status == 404:
        return ZohoNotFound(f"{where}: {message or 'not found'}", **kwargs)
    if status >= 500 or code == 1000:
        return ZohoServerError(f"{where}: {message}", **kwargs)
    if code == 6041:
        return ZohoOrganizationError(
            f"{where}: {message} (check ZOHO_ORGANIZATION_ID)", **kwargs)
    if status == 400:
        error = ZohoBadRequest(f"{where}: {message}", **kwargs)
        if envelope is None or code not in FATAL_400_CODES:
            error.retriable = True  # Zoho sends some transient 400s; retried, then fatal
        return error
    if not 200 <= status < 300:  # writes answer 201
        return ZohoApiError(f"{where}: {message}", **kwargs)
    if envelope is None:
        return ZohoBadResponse(f"{endpoint}: the answer is not a JSON object (truncated?)",
                               **kwargs)
    if code is None:
        return ZohoBadResponse(f"{endpoint}: the answer has no `code`", **kwargs)
    if code != 0:
        return ZohoApiError(f"{where}: {message}", **kwargs)
    return None
