"""Data centres, timestamps, the entity table and the response classifier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from multidict import CIMultiDict

from producers.zoho import dc
from producers.zoho.entities import ENTITY_DEFS, canonical
from producers.zoho.errors import (
    ZohoApiError,
    ZohoAuthError,
    ZohoBadRequest,
    ZohoBadResponse,
    ZohoConcurrencyLimited,
    ZohoConfigError,
    ZohoError,
    ZohoNotFound,
    ZohoOrganizationError,
    ZohoRateLimited,
    ZohoServerError,
)
from producers.zoho.responses import Answer, classify, parse_envelope
from producers.zoho.timefmt import format_zoho, parse_zoho, record_modified


def test_data_centres_include_canada_on_zohocloud() -> None:
    ca = dc.resolve("ca")
    assert ca.accounts_url == "https://accounts.zohocloud.ca"
    assert ca.api_domain == "https://www.zohoapis.ca"
    assert dc.resolve("com").token_url == "https://accounts.zoho.com/oauth/v2/token"
    assert set(dc.DATA_CENTRES) == {"com", "eu", "in", "com.au", "jp", "ca", "com.cn", "sa"}
    with pytest.raises(ZohoConfigError):
        dc.resolve("xx")


def test_api_base_override_is_both_hosts() -> None:
    ends = dc.resolve("eu", "http://127.0.0.1:9/")
    assert ends.accounts_url == ends.api_domain == "http://127.0.0.1:9"
    assert ends.overridden
    assert dc.product_url(ends.api_domain, "books", "/items") == \
        "http://127.0.0.1:9/books/v3/items"
    assert dc.product_url("https://www.zohoapis.eu", "inventory", "/itemdetails") == \
        "https://www.zohoapis.eu/inventory/v1/itemdetails"


def test_zoho_timestamps() -> None:
    t = parse_zoho("2025-11-13T10:30:00+0300")
    assert t == datetime(2025, 11, 13, 7, 30, tzinfo=UTC)
    assert t.utcoffset() == timedelta(hours=3)
    assert format_zoho(t) == "2025-11-13T10:30:00+0300"
    assert format_zoho(t.astimezone(UTC)) == "2025-11-13T07:30:00+0000"
    assert parse_zoho("2025-11-13T10:30:00+03:00") == t
    assert parse_zoho("2015-05-28T00:00:00.000Z") == datetime(2015, 5, 28, tzinfo=UTC)
    assert parse_zoho("2015-05-28") == datetime(2015, 5, 28, tzinfo=UTC)
    assert parse_zoho("2025-01-01T00:00:00-0530").utcoffset() == -timedelta(hours=5,
                                                                           minutes=30)
    with pytest.raises(ValueError):
        parse_zoho("2025-11-13T10:30:00 0300")  # an unencoded + arrives as a space
    with pytest.raises(ValueError):
        format_zoho(datetime(2025, 1, 1))  # a naive datetime is refused
    assert record_modified({"last_modified_time": "bad"}) is None
    assert record_modified({}) is None
    assert record_modified({"last_modified_time": "2025-01-01T00:00:00+0000"}) == \
        datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_zoho("2025-01-01T00:00:00", timezone(timedelta(hours=3))).hour == 0


def test_entity_table_and_aliases() -> None:
    assert set(ENTITY_DEFS) == {"item", "contact", "salesorder", "invoice", "customerpayment",
                                "creditnote", "bill", "vendorpayment", "location"}
    payment = ENTITY_DEFS["customerpayment"]
    assert (payment.list_key, payment.single_key, payment.id_field) == \
        ("customerpayments", "payment", "payment_id")
    assert ENTITY_DEFS["vendorpayment"].single_key == "vendorpayment"
    assert canonical("products") == "item"
    assert canonical("EntityType.PRODUCT") == "item"
    assert canonical("Sales-Orders") == "salesorder"
    assert canonical("invoice") == "invoice"
    with pytest.raises(ZohoError):
        canonical("journals")


def _answer(status: int, body: bytes, content_type: str = "application/json") -> Answer:
    return Answer(status, CIMultiDict(), body, content_type, parse_envelope(body))


@pytest.mark.parametrize(("status", "body", "kind", "retriable"), [
    (401, b'{"code":57,"message":"not authorized"}', ZohoAuthError, False),
    (401, b'{"code":14,"message":"Invalid value passed for authtoken."}', ZohoAuthError, False),
    (400, b'{"code":6041,"message":"not associated"}', ZohoOrganizationError, False),
    (429, b'{"code":44,"message":"per minute"}', ZohoRateLimited, True),
    (429, b'{"code":45,"message":"per day"}', ZohoRateLimited, True),
    (429, b'{"code":1070,"message":"in process"}', ZohoConcurrencyLimited, True),
    (200, b'{"code":1070,"message":"in process"}', ZohoConcurrencyLimited, True),
    (404, b'{"code":1002,"message":"Item does not exist."}', ZohoNotFound, False),
    (404, b'<html>nope</html>', ZohoNotFound, False),
    (500, b'{"code":1000,"message":"Internal Error"}', ZohoServerError, True),
    (502, b'<html>bad gateway</html>', ZohoServerError, True),
    (400, b'{"code":2,"message":"Invalid value passed for filter_by"}', ZohoBadRequest, False),
    (400, b'{"code":7,"message":"something odd"}', ZohoBadRequest, True),
    (400, b'<html>odd</html>', ZohoBadRequest, True),
    (405, b'{"code":5,"message":"Invalid URL Passed"}', ZohoApiError, False),
    (200, b'{"code":0,"message":"success","items":[{"item_id":"1"', ZohoBadResponse, True),
    (200, b'{"message":"success"}', ZohoBadResponse, True),
    (200, b'{"code":9999,"message":"odd"}', ZohoApiError, False),
])
def test_classify(status: int, body: bytes, kind: type[ZohoError], retriable: bool) -> None:
    error = classify(_answer(status, body), "items")
    assert type(error) is kind
    assert error.retriable is retriable
    assert error.endpoint == "items"


def test_success_is_no_error() -> None:
    assert classify(_answer(200, b'{"code":0,"message":"success"}'), "items") is None
    assert classify(_answer(200, b'{"code":"0","message":"success"}'), "items") is None
