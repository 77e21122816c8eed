"""Media types, the declared size, and query/form pairs of a webhook request."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from producers.webhook.body import (
    BodyKind,
    check_length,
    form_pairs,
    media_type,
    query_pairs,
)
from producers.webhook.errors import BodyTooLarge, MalformedWebhook, UnsupportedMediaType


@pytest.mark.parametrize(("header", "kind"), [
    ("application/json", BodyKind.JSON),
    ("application/json;charset=UTF-8", BodyKind.JSON),
    ("Application/JSON; charset=\"utf-8\"", BodyKind.JSON),
    ("application/vnd.zoho+json", BodyKind.JSON),
    ("text/json", BodyKind.JSON),
    ("application/x-www-form-urlencoded", BodyKind.FORM),
    ("application/x-www-form-urlencoded; charset=UTF-8", BodyKind.FORM),
    ("text/plain", BodyKind.RAW),
    ("application/octet-stream", BodyKind.RAW),
    ("", BodyKind.RAW),
    (None, BodyKind.RAW),
])
def test_supported_types(header: str | None, kind: BodyKind) -> None:
    media = media_type(header)
    assert media.kind is kind and media.header == (header or "")


@pytest.mark.parametrize(("header", "message"), [
    ("application/xml", "'application/xml' is not supported"),
    ("multipart/form-data; boundary=x", "'multipart/form-data' is not supported"),
    ("image/png", "is not supported"),
    ("text/html", "is not supported"),
    ("application/json; charset=iso-8859-1", "charset 'iso-8859-1' is not supported"),
    ("text/plain; charset=utf-16", "charset 'utf-16'"),
])
def test_unsupported_types(header: str, message: str) -> None:
    with pytest.raises(UnsupportedMediaType, match=message) as info:
        media_type(header)
    assert info.value.status == 415 and "send application/json" in info.value.detail


def test_declared_length_is_checked_before_reading() -> None:
    check_length(make_mocked_request("POST", "/", headers={"Content-Length": "1024"}), 1024)
    check_length(make_mocked_request("POST", "/"), 1024)
    with pytest.raises(BodyTooLarge, match="1025 bytes is larger than the limit of 1024"):
        check_length(make_mocked_request("POST", "/", headers={"Content-Length": "1025"}), 1024)


def test_query_pairs_are_decoded_in_order() -> None:
    assert query_pairs("b=1&a=x+y&a=%2B&c=") == [("b", "1"), ("a", "x y"), ("a", "+"), ("c", "")]
    with pytest.raises(MalformedWebhook, match="query string is malformed"):
        query_pairs("entity=%ff")


def test_form_pairs() -> None:
    assert form_pairs(b"JSONString=%7B%7D&token=") == [("JSONString", "{}"), ("token", "")]
    assert form_pairs(b"") == []
    with pytest.raises(MalformedWebhook, match="form body is malformed"):
        form_pairs(b'{"item": {}}')
    with pytest.raises(MalformedWebhook, match="not valid UTF-8"):
        form_pairs(b"a=\xff")
    with pytest.raises(MalformedWebhook, match="form body is malformed"):
        form_pairs(b"a=%ff")
    with pytest.raises(MalformedWebhook, match="form body is malformed"):
        form_pairs(b"&".join([b"a=1"] * 10_001))
