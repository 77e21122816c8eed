"""Reading Zoho bodies: the three webhook shapes, hints, actions, and clear refusals."""

from __future__ import annotations

from urllib.parse import urlencode

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.zoho_payload import PayloadError, canonical_entity, is_probe, parse_payload

JSON = "application/json;charset=UTF-8"
FORM = "application/x-www-form-urlencoded"
ITEM = {"item_id": "4815000000044208", "name": "Bags-small", "last_modified_time":
        "2025-11-13T10:30:00+0300"}


def test_default_json_payload() -> None:
    parsed = parse_payload(orjson.dumps({"item": ITEM}), JSON, {"action": "edited"})
    assert (parsed.entity_type, parsed.entity_id, parsed.action) == (
        "item", "4815000000044208", "edited")
    assert parsed.record["name"] == "Bags-small" and not parsed.is_ping


def test_form_json_string() -> None:
    body = urlencode({"JSONString": orjson.dumps({"salesorder": {"salesorder_id": "9"}})
                     .decode()}).encode()
    parsed = parse_payload(body, FORM, {"event": "sales_order_created"})
    assert (parsed.entity_type, parsed.entity_id, parsed.action) == ("salesorder", "9", "created")
    assert parsed.is_ping


def test_customer_payment_key_is_payment() -> None:
    parsed = parse_payload(orjson.dumps({"payment": {"payment_id": "77", "amount": 5}}), JSON)
    assert (parsed.entity_type, parsed.entity_id, parsed.action) == (
        "customerpayment", "77", "unknown")


def test_raw_template_with_entity_and_id() -> None:
    parsed = parse_payload(b'{"entity":"invoice","id":"123"}', "text/plain",
                           {"method": "DELETE"})
    assert (parsed.entity_type, parsed.entity_id, parsed.action) == ("invoice", "123", "deleted")
    assert not parsed.is_ping  # deletes need no fetch


def test_flat_record_with_query_hint() -> None:
    parsed = parse_payload(b'{"payment_id": 991}', JSON, {"entity": "vendorpayments"})
    assert (parsed.entity_type, parsed.entity_id) == ("vendorpayment", "991")


def test_id_from_query_for_an_empty_body() -> None:
    parsed = parse_payload(b"", JSON, {"entity": "bill", "id": "55", "action": "deleted"})
    assert (parsed.entity_type, parsed.entity_id, parsed.action) == ("bill", "55", "deleted")


@pytest.mark.parametrize(("body", "ctype", "attrs", "message"), [
    (b"{not json", JSON, {}, "body is not valid JSON"),
    (b"[1,2]", JSON, {}, "body is a JSON list"),
    (b'{"foo": {"bar": 1}}', JSON, {}, "cannot tell the entity type"),
    (b'{"item": {"name": "x"}}', JSON, {}, "item has no usable item_id"),
    (b'{"item": {"item_id": "1 OR 1=1"}}', JSON, {}, "no usable item_id"),
    (b'{"item": {"item_id": "1"}, "bill": {"bill_id": "2"}}', JSON, {}, "several entities"),
    (b'{"item": {"item_id": "1"}}', JSON, {"entity": "bill"}, "body holds a item"),
    (b'{"item": {"item_id": "1"}}', JSON, {"entity": "spaceship"}, "unknown entity type"),
    (b"\xff\xfe", FORM, {}, "form body is not valid UTF-8"),
    (b"JSONString=%7Bbad", FORM, {}, "form field JSONString is not valid JSON"),
    (b'{"item": {"item_id": "1"}}\xff', JSON, {}, "not valid JSON"),
])
def test_refusals_name_the_problem(
    body: bytes, ctype: str, attrs: dict[str, str], message: str
) -> None:
    with pytest.raises(PayloadError, match=message) as info:
        parse_payload(body, ctype, attrs)
    assert info.value.retriable is False


def test_probe() -> None:
    assert is_probe(b'{"test": true}', "application/json")
    assert not is_probe(b'{"test": true, "item": {}}', "application/json")
    assert not is_probe(b"test=true", FORM)


def test_aliases() -> None:
    assert canonical_entity("Sales_Orders") == "salesorder"
    assert canonical_entity("customer-payments") == "customerpayment"
    assert canonical_entity("warehouses") == "location"
    assert canonical_entity("nope") is None


@given(body=st.binary(max_size=200), ctype=st.sampled_from([JSON, FORM, "text/plain", ""]),
       attrs=st.dictionaries(st.sampled_from(["entity", "action", "id", "event", "method"]),
                             st.text(max_size=12), max_size=3))
def test_total_or_our_error(body: bytes, ctype: str, attrs: dict[str, str]) -> None:
    # The mapping is total: any input gives a payload or a PayloadError, nothing else.
    try:
        parsed = parse_payload(body, ctype, attrs)
    except PayloadError:
        return
    assert parsed.entity_id and parsed.entity_type


def test_raw_template_literal_action_is_read_and_kept_out_of_the_record() -> None:
    # The simulator's (and integrators') raw template: entity and action as literals.
    body = b'{"entity":"item","action":"edited","id":"42"}'
    parsed = parse_payload(body, JSON)
    assert (parsed.entity_type, parsed.entity_id, parsed.action) == ("item", "42", "edited")
    assert parsed.record == {"item_id": "42"} and parsed.is_ping
    assert parse_payload(body, JSON, {"action": "created"}).action == "created"  # query wins
    event = parse_payload(b'{"entity":"bill","event":"bill_deleted","id":"7"}', JSON)
    assert event.action == "deleted" and not event.is_ping


def test_plain_text_raw_body_with_entity_and_id_in_the_query() -> None:
    parsed = parse_payload(b"invoice 55 changed", "text/plain", {"entity": "invoice", "id": "55"})
    assert (parsed.entity_type, parsed.entity_id, parsed.action) == ("invoice", "55", "unknown")
    parsed = parse_payload(b"55", "text/plain", {"entity": "invoice", "id": "55"})  # not an object
    assert (parsed.entity_type, parsed.entity_id) == ("invoice", "55")
    with pytest.raises(PayloadError, match="not valid JSON"):
        parse_payload(b"invoice 55 changed", "text/plain", {"entity": "invoice"})
    with pytest.raises(PayloadError, match="text body is not valid UTF-8"):
        parse_payload(b"\xff55", "text/plain", {"entity": "invoice", "id": "55"})
