"""Raw Kafka value → what the event says: which record, upsert / delete / ping, the record.

Webhook bodies are read by `schemas.zoho_payload.parse_payload` (all three Zoho body
shapes); polled bodies are one record's JSON, read directly when they carry the id
field (the fast path a 100,000-record sync takes) and by `parse_payload` otherwise.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from schemas.codec import Codec
from schemas.events import RawEvent, decode_event
from schemas.zoho_payload import ID_FIELDS, PayloadError, canonical_entity, parse_payload
from streams.errors import InvalidEvent

UPSERT = "upsert"
DELETE = "delete"
PING = "ping"


class Decoded(NamedTuple):
    """One raw event, read: the record is None for pings; for deletes it is whatever the
    body held (often only the id)."""

    raw: RawEvent
    entity_type: str
    entity_id: str
    kind: str
    record: dict[str, Any] | None
    record_json: str | None = None  # the body itself, when it is exactly the record's JSON


def decode_raw(value: bytes | None, codec: Codec, *, topic: str, partition: int,
               offset: int) -> RawEvent:
    """The RawEvent in a Kafka value; CodecError (never retriable) when it is not one."""
    if value is None:
        raise InvalidEvent("message has no value")
    event = decode_event(value, codec=codec, topic=topic, partition=partition, offset=offset)
    if not isinstance(event, RawEvent):
        raise InvalidEvent(f"expected a raw_event, got {type(event).__name__}")
    return event


def _polled(raw: RawEvent, entity_type: str) -> dict[str, Any] | None:
    """The record of a polled body when it is the plain record JSON, else None."""
    try:
        document = orjson.loads(raw.body)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"polled body is not valid JSON: {exc}",
                           entity_type=entity_type) from None
    if isinstance(document, dict) and ID_FIELDS[entity_type] in document:
        return document
    return None


def read_event(raw: RawEvent) -> Decoded:
    """Read a raw event's body; InvalidEvent (never retriable) when it names no record."""
    # (a canonical name is its own alias: the lookup's string cleaning is skipped for it)
    entity_type = raw.entity_type if raw.entity_type in ID_FIELDS else canonical_entity(
        raw.entity_type)
    if entity_type is None:
        raise InvalidEvent(f"unknown entity type {raw.entity_type!r}")
    record: dict[str, Any] | None = None
    action = raw.event_kind
    if raw.source != "webhook":
        record = _polled(raw, entity_type)
    plain = record is not None
    if record is None:
        hints = {"entity": entity_type, **raw.attributes}
        if raw.entity_id:
            hints.setdefault("id", raw.entity_id)
        try:
            payload = parse_payload(raw.body, raw.content_type, hints)
        except PayloadError as exc:
            raise InvalidEvent(str(exc), entity_type=entity_type) from None
        record, entity_type = payload.record, payload.entity_type
        if payload.action == "deleted":
            action = "deleted"
        elif payload.is_ping and action != "deleted":
            action = PING
    id_field = ID_FIELDS[entity_type]
    entity_id = record.get(id_field)
    if entity_type == "location" and not entity_id:
        entity_id = record.get("warehouse_id")  # a legacy /settings/warehouses record
    if isinstance(entity_id, int) and not isinstance(entity_id, bool):
        entity_id = str(entity_id)
    if not entity_id or not isinstance(entity_id, str):
        entity_id = raw.entity_id
    if not entity_id:
        raise InvalidEvent(f"no {id_field} in the body or the event", entity_type=entity_type)
    if raw.entity_id and raw.entity_id != entity_id:
        raise InvalidEvent(f"event names {entity_type} {raw.entity_id} but its body holds "
                           f"{entity_id}", entity_type=entity_type)
    if action == "deleted":
        return Decoded(raw, entity_type, entity_id, DELETE, record)
    # (len first: a full record has dozens of fields, and building their set costs ~1 µs)
    if action == PING or (len(record) <= 2 and set(record) <= {id_field, "warehouse_id"}):
        return Decoded(raw, entity_type, entity_id, PING, None)
    return Decoded(raw, entity_type, entity_id, UPSERT, record,
                   raw.body.decode() if plain else None)
