"""Refusals of the webhook gateway, each with its HTTP status, rendered in `receiver.py`."""

from __future__ import annotations

from tds.errors import TDSError


class WebhookError(TDSError):
    """A webhook refused with `status`; `detail` names the problem and the fix."""

    status = 400
    error = "bad_request"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class MalformedWebhook(WebhookError):
    """The body or query cannot be read into a Zoho entity and id."""

    error = "malformed"


class Unauthorized(WebhookError):
    """The signature or shared secret is missing or wrong, or none is configured."""

    status = 401
    error = "unauthorized"


class BodyTooLarge(WebhookError):
    """The body is larger than TDS_WEBHOOK_MAX_BODY_BYTES (or than Kafka takes)."""

    status = 413
    error = "too_large"


class UnsupportedMediaType(WebhookError):
    """The Content-Type is not JSON, form-encoded or plain text, or not UTF-8."""

    status = 415
    error = "unsupported_media_type"


class Unavailable(WebhookError):
    """Kafka cannot take the event now; Zoho should retry later."""

    status = 503
    error = "unavailable"
    retriable = True

    def __init__(self, detail: str, *, retry_after_s: int = 5) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(detail)
