"""The webhook handler: check, read, key and publish one Zoho webhook as a raw event.

Order of the checks: media type (415), size (413, on Content-Length before reading and
again while reading), the guide's `{"test": true}` probe (200, nothing published),
authenticity (401; a query string or form body that cannot be decoded is a 400 first, as
the signature covers their pairs), the body (400), then Kafka (200 once acknowledged,
else 503). Every refusal is a `WebhookError`, rendered in one place as
`{"error": ..., "detail": ...}`.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from producers.webhook.auth import Authenticator
from producers.webhook.body import BodyKind, form_pairs, media_type, query_pairs, read_body
from producers.webhook.errors import (
    BodyTooLarge,
    MalformedWebhook,
    Unavailable,
    WebhookError,
)
from schemas.cloudevents import ce_headers
from schemas.events import RawEvent
from schemas.topics import RAW_REALTIME, entity_key
from schemas.zoho_payload import PayloadError, canonical_entity, is_probe, parse_payload
from tds.kafka_publisher import (
    Delivery,
    PublishError,
    Publishing,
    QueueFullError,
    is_too_large,
)
from tds.metrics import Metrics
from tds.settings import Settings

logger = logging.getLogger(__name__)

CE_TYPE = "zoho.webhook.received"
CE_SOURCE = "/tds/web"
PROBE_ANSWER = {"status": "ok", "message": "webhook endpoint works; nothing was published"}
_ORG = re.compile(r"^[0-9]{1,32}$")
_JSON = "application/json"
_PROBE_MAX = 256  # `{"test": true}` however it is spaced; skips a JSON parse of real bodies


class WebhookReceiver:
    """Turns webhook requests into raw events on `topic`; `handle` is the aiohttp handler."""

    def __init__(self, *, settings: Settings, publisher: Publishing, metrics: Metrics,
                 topic: str = RAW_REALTIME) -> None:
        self._auth = Authenticator.from_settings(settings)
        self._org_id = settings.zoho_organization_id
        self._max_body = settings.webhook_max_body_bytes
        self._publisher = publisher
        self._topic = topic
        self._requests = metrics.webhook_requests
        self._by_status: dict[int, Any] = {}  # labelled children, looked up once per status
        self._latency = metrics.webhook_latency

    @property
    def topic(self) -> str:
        """Where raw events go."""
        return self._topic

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one webhook request; never raises."""
        started = time.perf_counter()
        try:
            response = _json(200, await self._receive(request))
        except WebhookError as exc:
            response = self._refuse(request, exc)
        except Exception:
            logger.exception("webhook %s %s failed unexpectedly", request.method, request.path)
            response = _json(500, {"error": "internal",
                                   "detail": "unexpected error; see the gateway's log"})
        if not request.content.is_eof():
            response.force_close()  # never drain a refused body we chose not to read
        counter = self._by_status.get(response.status)
        if counter is None:
            counter = self._by_status[response.status] = self._requests.labels(
                status=str(response.status))
        counter.inc()
        self._latency.observe(time.perf_counter() - started)
        return response

    async def _receive(self, request: web.Request) -> dict[str, Any]:
        received_at = datetime.now(UTC)
        media = media_type(request.headers.get("Content-Type"))
        body = await read_body(request, self._max_body)
        if len(body) <= _PROBE_MAX and is_probe(body, media.header):
            return PROBE_ANSWER
        query = query_pairs(request.rel_url.raw_query_string)
        params = dict(query)
        verified = self._auth.check_request(request.headers, params)
        form = form_pairs(body) if media.kind is BodyKind.FORM else None
        if self._auth.needs_body:
            verified = self._auth.check_signature(request.headers, query, form, body)
        attributes = self._attributes(request, params)
        try:
            payload = parse_payload(body, media.header, attributes)
        except PayloadError as exc:
            raise MalformedWebhook(str(exc)) from None
        org_id = self._org(attributes, payload.record)
        event = RawEvent(
            event_id=str(uuid.uuid4()), source="webhook", org_id=org_id,
            entity_type=payload.entity_type, entity_id=payload.entity_id,
            event_kind="ping" if payload.is_ping else payload.action,
            received_at=received_at, body=body, content_type=media.header,
            signature_verified=verified, attributes=attributes,
        )
        delivery = await self._publish(event)
        logger.debug("webhook %s %s/%s published to %s[%d]@%d", event.event_kind,
                     event.entity_type, event.entity_id, delivery.topic, delivery.partition,
                     delivery.offset)
        return {"status": "ok", "event_id": event.event_id, "entity_type": event.entity_type,
                "entity_id": event.entity_id, "event_kind": event.event_kind,
                "partition": delivery.partition, "offset": delivery.offset}

    def _attributes(self, request: web.Request, params: Mapping[str, str]) -> dict[str, str]:
        """Query parameters (less any secret), the HTTP method and the path's entity."""
        private = self._auth.private_params
        attributes = {k: v for k, v in params.items() if k not in private}
        attributes["method"] = request.method
        path_entity = request.match_info.get("entity")
        if path_entity is not None:
            attributes["path_entity"] = path_entity
            named = params.get("entity")
            if named and canonical_entity(named) != canonical_entity(path_entity):
                raise MalformedWebhook(f"the path names {path_entity!r} but the `entity` "
                                       f"query parameter names {named!r}")
        return attributes

    def _org(self, attributes: Mapping[str, str], record: Mapping[str, Any]) -> str:
        """The configured organization, else the request's `organization_id`."""
        if self._org_id:
            return self._org_id
        org = attributes.get("organization_id") or record.get("organization_id")
        if isinstance(org, int) and not isinstance(org, bool):
            org = str(org)
        if not org:
            raise MalformedWebhook(
                "no organization id: set ZOHO_ORGANIZATION_ID, or add an `organization_id` "
                "query parameter to the Zoho webhook URL")
        if not isinstance(org, str) or not _ORG.match(org):
            raise MalformedWebhook(f"organization_id {org!r} is not a Zoho organization id "
                                   "(digits only)")
        return org

    async def _publish(self, event: RawEvent) -> Delivery:
        assert event.entity_id is not None
        key = entity_key(event.org_id, event.entity_type, event.entity_id)
        headers = ce_headers(CE_TYPE, CE_SOURCE, event_id=event.event_id,
                             time=event.received_at,
                             subject=f"{event.entity_type}/{event.entity_id}")
        try:
            return await self._publisher.publish(self._topic, event.encode(), key=key,
                                                 headers=headers)
        except QueueFullError as exc:
            raise Unavailable(f"Kafka cannot take the event now: {exc}") from None
        except PublishError as exc:
            if is_too_large(exc):
                raise BodyTooLarge(f"Kafka refused the event as too large: {exc}") from None
            raise Unavailable(f"Kafka did not acknowledge the event: {exc}") from None

    def _refuse(self, request: web.Request, exc: WebhookError) -> web.Response:
        level = logging.INFO if exc.status < 500 and exc.status != 401 else logging.WARNING
        logger.log(level, "webhook %s %s from %s refused %d: %s", request.method, request.path,
                   request.remote, exc.status, exc.detail)
        response = _json(exc.status, {"error": exc.error, "detail": exc.detail})
        if isinstance(exc, Unavailable):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response


def _json(status: int, document: Mapping[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document), content_type=_JSON)
