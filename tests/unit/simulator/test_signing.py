"""The pure signing function against hand-built messages."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from simulator.signing import sign


def _hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def test_json_body_is_appended_after_sorted_pairs() -> None:
    query = [("entity", "item"), ("action", "edited")]
    body = b'{"item":{}}'
    assert sign("k3y", query, [], body) == _hmac("k3y", b'actioneditedentityitem{"item":{}}')


def test_form_pairs_are_signed_and_the_body_is_not() -> None:
    form = [("JSONString", '{"a":1}')]
    expected = _hmac("k", b'JSONString{"a":1}entityitem')
    assert sign("k", [("entity", "item")], form, b"JSONString=%7B%22a%22%3A1%7D") == expected


def test_ties_sort_by_value_and_unicode_is_utf8() -> None:
    query = [("x", "b"), ("x", "a"), ("é", "ü")]
    assert sign("s", query, [], b"") == _hmac("s", "xaxbéü".encode())


@given(
    st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=6),
    st.binary(max_size=50),
)
def test_order_of_pairs_does_not_matter(pairs: list[tuple[str, str]], body: bytes) -> None:
    assert sign("secret", pairs, [], body) == sign("secret", list(reversed(pairs)), [], body)
