"""Webhook authenticity: the X-Zoho-Webhook-Signature HMAC or a shared secret.

The HMAC scheme is Zoho Billing's documented one, assumed for Books and Inventory
(facts §5.3): hex HMAC-SHA256 with the secret over every query-string pair and, for form
bodies, every form pair (URL-decoded, sorted by key then value, each written `keyvalue`
with no separators), followed by the raw body bytes for non-form bodies.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from producers.webhook.errors import Unauthorized
from tds.secret import Secret
from tds.settings import Settings

SIGNATURE_HEADER = "X-Zoho-Webhook-Signature"

_NOT_CONFIGURED = (
    "no webhook secret is configured: set ZOHO_WEBHOOK_SECRET (and ZOHO_WEBHOOK_AUTH=hmac, "
    "header or query to match the Zoho webhook), or set TDS_WEBHOOK_ALLOW_UNSIGNED=true to "
    "accept unauthenticated webhooks"
)


def signed_message(
    query: Iterable[tuple[str, str]], form: Iterable[tuple[str, str]] | None, body: bytes
) -> bytes:
    """The bytes the HMAC covers; `form` is None (or empty) for non-form bodies."""
    form_pairs = list(form or ())
    pairs = sorted([*query, *form_pairs])
    message = "".join(k + v for k, v in pairs).encode()
    return message if form_pairs else message + body


def signature(secret: str, message: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of `message`."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


@dataclass(frozen=True, slots=True)
class Authenticator:
    """Checks one request per the configured mode; raises Unauthorized when it fails."""

    mode: str  # hmac | header | query | unsigned (no secret, allowed) | refuse (no secret)
    secret: Secret
    header: str = "X-Zoho-Webhook-Secret"
    param: str = "secret"

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """The mode: the configured scheme when a secret is set, else unsigned or refuse."""
        if settings.zoho_webhook_secret:
            mode = settings.zoho_webhook_auth
        else:
            mode = "unsigned" if settings.webhook_allow_unsigned else "refuse"
        return cls(mode=mode, secret=settings.zoho_webhook_secret,
                   header=settings.zoho_webhook_secret_header,
                   param=settings.zoho_webhook_secret_param)

    @property
    def needs_body(self) -> bool:
        """True when the check covers the body (so it runs after reading it)."""
        return self.mode == "hmac"

    @property
    def private_params(self) -> frozenset[str]:
        """Query parameters that carry the secret and must never be stored or logged."""
        return frozenset({self.param}) if self.mode == "query" else frozenset()

    def check_request(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        """The checks that need no body; return True when authenticity was proven."""
        if self.mode == "refuse":
            raise Unauthorized(_NOT_CONFIGURED)
        if self.mode == "unsigned":
            return False
        if self.mode == "header":
            given = headers.get(self.header)
            if given is None:
                raise Unauthorized(f"missing {self.header} header (the shared webhook secret)")
            if not _same(given, self.secret.reveal()):
                raise Unauthorized(f"the {self.header} header does not match "
                                   "ZOHO_WEBHOOK_SECRET")
            return True
        if self.mode == "query":
            given = query.get(self.param)
            if given is None:
                raise Unauthorized(f"missing `{self.param}` query parameter (the shared "
                                   "webhook secret)")
            if not _same(given, self.secret.reveal()):
                raise Unauthorized(f"the `{self.param}` query parameter does not match "
                                   "ZOHO_WEBHOOK_SECRET")
            return True
        return False  # hmac: checked with the body by check_signature

    def check_signature(self, headers: Mapping[str, str], query: Iterable[tuple[str, str]],
                        form: Iterable[tuple[str, str]] | None, body: bytes) -> bool:
        """The HMAC check (hmac mode only); return True when it passed."""
        if self.mode != "hmac":
            return False
        given = headers.get(SIGNATURE_HEADER)
        if not given:
            raise Unauthorized(f"missing {SIGNATURE_HEADER} header: the webhook must be "
                               "signed with ZOHO_WEBHOOK_SECRET")
        expected = signature(self.secret.reveal(), signed_message(query, form, body))
        if not _same(given.strip().lower(), expected):
            raise Unauthorized(f"the {SIGNATURE_HEADER} header does not match the request "
                               "(hex HMAC-SHA256 over the sorted query/form pairs and body)")
        return True
