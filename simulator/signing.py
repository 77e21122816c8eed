"""The webhook signature: Zoho Billing's documented scheme, assumed for Books and Inventory."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Zoho-Webhook-Signature"


def sign(
    secret: str, query: list[tuple[str, str]], form: list[tuple[str, str]], body: bytes
) -> str:
    """Return the lowercase hex HMAC-SHA256 of a webhook request under secret.

    The signed message S is built as follows:

    1. Take every query-string pair of the request URL and, for form bodies, every form pair,
       with keys and values URL-decoded.
    2. Sort the pairs by key, then by value.
    3. Concatenate them as ``key + value`` with no separators (UTF-8).
    4. For JSON and raw bodies (``form`` empty) append the raw body bytes; for form bodies
       append nothing (``body`` is ignored when ``form`` is non-empty: the pairs carry it).

    Example: query ``entity=item&action=edited`` with JSON body ``{"item":{}}`` signs
    ``actioneditedentityitem{"item":{}}``.
    """
    pairs = sorted([*query, *form])
    message = "".join(k + v for k, v in pairs).encode()
    if not form:
        message += body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
