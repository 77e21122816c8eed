"""What a webhook request may carry: its media type, its size, its query and form pairs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from urllib.parse import parse_qsl

from aiohttp import web

from producers.webhook.errors import BodyTooLarge, MalformedWebhook, UnsupportedMediaType

FORM_TYPE = "application/x-www-form-urlencoded"
_CHARSETS = {"utf-8", "utf8", "us-ascii", "ascii"}
_MAX_FIELDS = 10_000  # a Zoho form has a handful; bound the parsing work of hostile ones
_SUPPORTED = ("application/json, application/x-www-form-urlencoded, text/plain or "
              "application/octet-stream (UTF-8)")


class BodyKind(Enum):
    """How the body is read and signed."""

    JSON = "json"
    FORM = "form"
    RAW = "raw"


@dataclass(frozen=True, slots=True)
class MediaType:
    """The request's Content-Type as received, and the kind of body it announces."""

    header: str
    kind: BodyKind


def media_type(header: str | None) -> MediaType:
    """Classify a Content-Type header; raise UnsupportedMediaType for anything else."""
    if header is None or not header.strip():
        return MediaType("", BodyKind.RAW)  # Zoho raw bodies may come without a type
    media, _, params = header.partition(";")
    media = media.strip().lower()
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
            if charset not in _CHARSETS:
                raise UnsupportedMediaType(
                    f"charset {charset!r} is not supported: send {_SUPPORTED}")
    if media == FORM_TYPE:
        return MediaType(header, BodyKind.FORM)
    if media in ("application/json", "text/json") or (
            media.startswith("application/") and media.endswith("+json")):
        return MediaType(header, BodyKind.JSON)
    if media in ("text/plain", "application/octet-stream"):
        return MediaType(header, BodyKind.RAW)
    raise UnsupportedMediaType(f"Content-Type {media!r} is not supported: send {_SUPPORTED}")


def check_length(request: web.BaseRequest, limit: int) -> None:
    """Refuse on the declared Content-Length, before reading anything."""
    declared = request.headers.get("Content-Length")
    if declared is None:
        return
    try:
        length = int(declared)
    except ValueError:
        raise MalformedWebhook(f"Content-Length {declared!r} is not a number") from None
    if length > limit:
        raise BodyTooLarge(f"body of {length} bytes is larger than the limit of {limit} bytes "
                           "(TDS_WEBHOOK_MAX_BODY_BYTES)")


async def read_body(request: web.BaseRequest, limit: int) -> bytes:
    """Read the whole body, stopping with BodyTooLarge as soon as it passes `limit` bytes."""
    check_length(request, limit)
    stream = request.content
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await stream.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body is larger than the limit of {limit} bytes "
                               "(TDS_WEBHOOK_MAX_BODY_BYTES)")
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The URL-decoded query pairs, in order; raise MalformedWebhook when not UTF-8."""
    try:
        return parse_qsl(raw_query, keep_blank_values=True, errors="strict",
                         max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedWebhook(f"query string is malformed: {exc}") from None


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """The URL-decoded pairs of a form body; raise MalformedWebhook when it is not one."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedWebhook("form body is not valid UTF-8") from None
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                         errors="strict", max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedWebhook(f"form body is malformed: {exc}") from None
