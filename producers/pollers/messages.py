"""The messages pollers write: raw polled records and sync-run lifecycle events."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from schemas.cloudevents import Headers, ce_headers
from schemas.events import RawEvent, SyncRunEntity, SyncRunEvent
from schemas.topics import entity_key

POLLED_CE_TYPE = "zoho.record.polled"
CE_SOURCE = "/tds/pollers"
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka message ready to produce."""

    key: bytes
    value: bytes
    headers: Headers


def raw_record(
    *,
    org_id: str,
    entity_type: str,
    entity_id: str,
    record: Mapping[str, Any],
    source: str,
    run_id: str,
    at: datetime,
    attributes: Mapping[str, str] | None = None,
) -> Message:
    """A polled snapshot: the Zoho record's JSON, keyed by org, type and id."""
    return _raw(org_id=org_id, entity_type=entity_type, entity_id=entity_id,
                body=orjson.dumps(record), kind="snapshot", source=source, run_id=run_id,
                at=at, attributes=attributes)


def raw_deleted(
    *,
    org_id: str,
    entity_type: str,
    entity_id: str,
    id_field: str,
    source: str,
    run_id: str,
    at: datetime,
) -> Message:
    """A delete found by a full sync: TDS holds the id, Zoho no longer has it."""
    return _raw(org_id=org_id, entity_type=entity_type, entity_id=entity_id,
                body=orjson.dumps({id_field: entity_id}), kind="deleted", source=source,
                run_id=run_id, at=at, attributes={"detected_by": "full_sync"})


def _raw(*, org_id: str, entity_type: str, entity_id: str, body: bytes, kind: str,
         source: str, run_id: str, at: datetime,
         attributes: Mapping[str, str] | None) -> Message:
    event = RawEvent(
        event_id=str(uuid.uuid4()),
        source=source,
        org_id=org_id,
        entity_type=entity_type,
        entity_id=entity_id,
        event_kind=kind,
        received_at=at,
        body=body,
        content_type=JSON,
        signature_verified=False,
        sync_run_id=run_id,
        attributes=dict(attributes or {}),
    )
    headers = ce_headers(POLLED_CE_TYPE, CE_SOURCE, event_id=event.event_id, time=at,
                         subject=f"{entity_type}/{entity_id}")
    return Message(entity_key(org_id, entity_type, entity_id), event.encode(), headers)


def run_event(
    *,
    run_id: str,
    status: str,
    run_type: str,
    org_id: str,
    entity_types: Sequence[str],
    at: datetime,
    started_at: datetime | None,
    expected: int | None = None,
    seen: int = 0,
    sent: int = 0,
    deleted: int = 0,
    failed: int = 0,
    error: str | None = None,
    configuration: Mapping[str, str] | None = None,
    entities: Sequence[SyncRunEntity] = (),
) -> Message:
    """tds.sync.started / completed / failed / joined, keyed so a run's events stay in
    order."""
    event = SyncRunEvent(
        event_id=str(uuid.uuid4()),
        run_id=run_id,
        status=status,
        run_type=run_type,
        source="zoho",
        org_id=org_id,
        entity_types=list(entity_types),
        at=at,
        started_at=started_at,
        expected=expected,
        sent=sent,
        seen=seen,
        deleted=deleted,
        failed=failed,
        error=error,
        configuration=dict(configuration or {}),
        entities=list(entities),
    )
    headers = ce_headers(f"tds.sync.{status}", CE_SOURCE, event_id=event.event_id, time=at,
                         subject=f"sync_run/{run_id}")
    return Message(entity_key(org_id, "sync_run", run_id), event.encode(), headers)
