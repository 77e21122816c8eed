"""Webhook authenticity: the HMAC string, agreement with the simulator's signer, and the
shared-secret and unsigned modes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.webhook.auth import SIGNATURE_HEADER, Authenticator, signature, signed_message
from producers.webhook.errors import Unauthorized
from simulator import signing
from tds.secret import Secret
from tds.settings import Settings

SECRET = "s3cretTokenValue42"
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_pairs = st.lists(st.tuples(_text, _text), max_size=5)


def test_the_documented_example() -> None:
    # Zoho Billing's example: sorted query/form pairs as `keyvalue`, then the raw JSON body.
    message = signed_message([("subscription_id", "90343"), ("name", "basic")], None,
                             b'{"created_date":"2019-03-06","event_id":"5675"}')
    assert message == (b"namebasicsubscription_id90343"
                       b'{"created_date":"2019-03-06","event_id":"5675"}')


def test_sorted_by_key_then_value_and_form_bodies_are_not_appended() -> None:
    assert signed_message([("b", "1"), ("a", "2")], [("a", "1")], b"a=1") == b"a1a2b1"
    assert signed_message([], [], b"raw") == b"raw"  # an empty form signs like a raw body


@given(query=_pairs, form=_pairs, body=st.binary(max_size=40))
def test_agrees_with_the_simulators_signer(
    query: list[tuple[str, str]], form: list[tuple[str, str]], body: bytes
) -> None:
    ours = signature(SECRET, signed_message(query, form, body))
    assert ours == signing.sign(SECRET, query, form, body)
    assert signing.SIGNATURE_HEADER == SIGNATURE_HEADER


def _auth(**env: str) -> Authenticator:
    return Authenticator.from_settings(Settings.from_env(env))


def test_hmac_mode_checks_the_signature() -> None:
    auth = _auth(ZOHO_WEBHOOK_SECRET=SECRET)
    assert auth.mode == "hmac" and auth.needs_body and not auth.private_params
    good = signing.sign(SECRET, [("action", "edited")], [], b"{}")
    assert auth.check_request({}, {}) is False
    assert auth.check_signature({SIGNATURE_HEADER: good}, [("action", "edited")], None, b"{}")
    assert auth.check_signature({SIGNATURE_HEADER: good.upper()}, [("action", "edited")],
                                None, b"{}")
    with pytest.raises(Unauthorized, match="does not match"):
        auth.check_signature({SIGNATURE_HEADER: good}, [("action", "created")], None, b"{}")
    with pytest.raises(Unauthorized, match="missing X-Zoho-Webhook-Signature"):
        auth.check_signature({}, [], None, b"{}")
    with pytest.raises(Unauthorized, match="does not match"):
        auth.check_signature({SIGNATURE_HEADER: "zz\u00e9"}, [], None, b"{}")


def test_header_mode() -> None:
    auth = _auth(ZOHO_WEBHOOK_SECRET=SECRET, ZOHO_WEBHOOK_AUTH="header",
                 ZOHO_WEBHOOK_SECRET_HEADER="X-Token")
    assert not auth.needs_body
    assert auth.check_request({"X-Token": SECRET}, {}) is True
    with pytest.raises(Unauthorized, match="missing X-Token") as info:
        auth.check_request({}, {"secret": SECRET})
    assert SECRET not in info.value.detail
    with pytest.raises(Unauthorized, match="does not match"):
        auth.check_request({"X-Token": SECRET + "x"}, {})


def test_query_mode_keeps_the_parameter_private() -> None:
    auth = _auth(ZOHO_WEBHOOK_SECRET=SECRET, ZOHO_WEBHOOK_AUTH="query")
    assert auth.private_params == {"secret"}
    assert auth.check_request({}, {"secret": SECRET}) is True
    with pytest.raises(Unauthorized, match="missing `secret` query parameter"):
        auth.check_request({}, {})
    with pytest.raises(Unauthorized, match="does not match"):
        auth.check_request({}, {"secret": "nope"})


def test_without_a_secret_the_setting_decides() -> None:
    with pytest.raises(Unauthorized, match=r"ZOHO_WEBHOOK_SECRET .* TDS_WEBHOOK_ALLOW_UNSIGNED"):
        _auth().check_request({}, {})
    allowed = _auth(TDS_WEBHOOK_ALLOW_UNSIGNED="true")
    assert allowed.check_request({}, {}) is False
    assert allowed.check_signature({}, [], None, b"") is False


def test_the_secret_never_shows() -> None:
    auth = _auth(ZOHO_WEBHOOK_SECRET=SECRET)
    assert SECRET not in repr(auth) and auth.secret == Secret(SECRET)
