"""Read a raw Zoho body (webhook or polled record) into entity type, id, record and action.

The gateway uses it to key and validate a webhook before publishing; the stream workers
use it again on the kept raw bytes. Zoho webhooks come in three shapes (facts §5.2): the
default JSON payload `{"item": {...}}`, a form with a `JSONString` field, and raw bodies
built from `${ENTITY.FIELD}` placeholders. Zoho sends no event-type field, so the action
comes from what the integrator configured: query parameters (`action`, `event`), the path,
or the HTTP method.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from schemas.errors import TDSError

# Canonical entity type → the id field of its records.
ID_FIELDS = {
    "item": "item_id",
    "contact": "contact_id",
    "salesorder": "salesorder_id",
    "invoice": "invoice_id",
    "customerpayment": "payment_id",
    "creditnote": "creditnote_id",
    "bill": "bill_id",
    "vendorpayment": "payment_id",
    "location": "location_id",
    "stock": "item_id",
}

# Names integrators and Zoho use for each entity (payload keys, query values, paths).
_ALIASES = {
    "item": "item", "items": "item", "product": "item", "products": "item",
    "contact": "contact", "contacts": "contact", "customer": "contact",
    "customers": "contact", "vendor": "contact", "vendors": "contact",
    "salesorder": "salesorder", "salesorders": "salesorder",
    "invoice": "invoice", "invoices": "invoice",
    "customerpayment": "customerpayment", "customerpayments": "customerpayment",
    "payment": "customerpayment", "payments": "customerpayment",
    "creditnote": "creditnote", "creditnotes": "creditnote",
    "bill": "bill", "bills": "bill",
    "vendorpayment": "vendorpayment", "vendorpayments": "vendorpayment",
    "location": "location", "locations": "location",
    "warehouse": "location", "warehouses": "location",
    "stock": "stock",
}

_ACTIONS = {
    "created": "created", "create": "created", "add": "created", "added": "created",
    "new": "created",
    "edited": "edited", "edit": "edited", "updated": "edited", "update": "edited",
    "modified": "edited",
    "deleted": "deleted", "delete": "deleted", "removed": "deleted",
}

_ID = re.compile(r"^[0-9A-Za-z_.\-]{1,64}$")
# Keys of a raw template that describe the event, not the record (facts §5.1: integrators
# put a literal action in the raw body).
_ENVELOPE = ("entity", "action", "event")
_PROBE = {"test": True}
_FORM = "application/x-www-form-urlencoded"


class PayloadError(TDSError):
    """A body from which no Zoho entity and id can be read; never retriable."""

    retriable = False


@dataclass(frozen=True, slots=True)
class ZohoPayload:
    """What a raw body says: which record, which action, and the record when present."""

    entity_type: str
    entity_id: str
    action: str
    record: dict[str, Any]

    @property
    def is_ping(self) -> bool:
        """Only the id is known: the record must be fetched from Zoho."""
        return self.action != "deleted" and set(self.record) <= {ID_FIELDS[self.entity_type]}


def canonical_entity(name: str | None) -> str | None:
    """The canonical entity type for an alias (`sales_orders` → `salesorder`), or None."""
    if not name:
        return None
    return _ALIASES.get(name.strip().lower().replace("_", "").replace("-", ""))


def canonical_action(name: str | None) -> str | None:
    """`created`, `edited` or `deleted` for the spellings integrators use, or None."""
    if not name:
        return None
    return _ACTIONS.get(name.strip().lower())


def _action_of(names: Mapping[str, str]) -> str | None:
    """The action an `action` value or an `<entity>_<action>` event name gives."""
    event = names.get("event", "")
    return (canonical_action(names.get("action"))
            or canonical_action(event.rsplit("_", 1)[-1] if "_" in event else None))


def is_probe(body: bytes, content_type: str) -> bool:
    """The guide's troubleshooting probe: a JSON body that is exactly `{"test": true}`."""
    if not _media(content_type).endswith("json") and _media(content_type) != "":
        return False
    try:
        return bool(orjson.loads(body) == _PROBE)
    except orjson.JSONDecodeError:
        return False


def _media(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _decode_json(data: bytes | str, what: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"{what} is not valid JSON (UTF-8): {exc}") from None


def _form_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("form body is not valid UTF-8") from None
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                         errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"form body is malformed: {exc}") from None


def _document(body: bytes, content_type: str) -> Any:
    media = _media(content_type)
    if media == _FORM:
        pairs = _form_pairs(body)
        fields = dict(pairs)
        if "JSONString" in fields:
            return _decode_json(fields["JSONString"], "form field JSONString")
        return fields
    if not body.strip():
        return {}
    return _decode_json(body, "body")


def _locate(document: Any, hint: str | None) -> tuple[str, dict[str, Any]]:
    """Find the entity type and its record inside a decoded document."""
    if not isinstance(document, dict):
        raise PayloadError(f"body is a JSON {type(document).__name__}, expected an object")
    # Default payload: exactly one entity key holding an object.
    wrapped = [(canonical_entity(k), v) for k, v in document.items()
               if canonical_entity(k) and isinstance(v, dict)]
    if len(wrapped) == 1:
        entity, record = wrapped[0]
        assert entity is not None
        return entity, record
    if len(wrapped) > 1:
        raise PayloadError("body names several entities: "
                           + ", ".join(sorted({str(e) for e, _ in wrapped})))
    # Raw templates: {"entity": "item", "id": "..."} or a flat record with an id field.
    named = canonical_entity(document.get("entity")) if isinstance(
        document.get("entity"), str) else None
    entity = named or hint
    if entity is None:
        by_id = [e for e, f in ID_FIELDS.items() if f in document and f != "payment_id"
                 and e != "stock"]
        if len(by_id) == 1:
            entity = by_id[0]
    if entity is None:
        raise PayloadError("cannot tell the entity type: no entity key in the body and no "
                           "`entity` query parameter or path segment")
    record = {k: v for k, v in document.items() if k not in _ENVELOPE}
    if "id" in record and ID_FIELDS[entity] not in record:
        record[ID_FIELDS[entity]] = record.pop("id")
    return entity, record


def parse_payload(
    body: bytes,
    content_type: str,
    attributes: Mapping[str, str] | None = None,
) -> ZohoPayload:
    """Read `body`; raise PayloadError naming what is missing or malformed."""
    attrs = attributes or {}
    named = attrs.get("entity") or attrs.get("path_entity")
    hint = canonical_entity(named)
    if named and hint is None:
        raise PayloadError(f"unknown entity type {named!r}")
    # A raw text template that is not a JSON object: the query names the entity and the id.
    text_template = _media(content_type) == "text/plain" and hint and attrs.get("id")
    try:
        document = _document(body, content_type)
    except PayloadError:
        if not text_template:
            raise
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("text body is not valid UTF-8") from None
        document = {}
    if text_template and not isinstance(document, dict):
        document = {}
    entity, record = _locate(document, hint)
    if hint is not None and hint != entity:
        raise PayloadError(f"body holds a {entity} but the request names {hint}")
    id_field = ID_FIELDS[entity]
    raw_id = record.get(id_field, attrs.get("id"))
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    if not isinstance(raw_id, str) or not _ID.match(raw_id):
        raise PayloadError(f"{entity} has no usable {id_field} (got {raw_id!r})")
    record[id_field] = raw_id
    literal = {k: v for k, v in document.items() if k in _ENVELOPE and isinstance(v, str)}
    action = (_action_of(attrs)
              or _action_of(literal)
              or ("deleted" if attrs.get("method", "").upper() == "DELETE" else None)
              or "unknown")
    return ZohoPayload(entity_type=entity, entity_id=raw_id, action=action, record=record)
