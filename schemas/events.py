"""The values that cross stage boundaries, and their Avro encoding.

Each dataclass mirrors the newest schema of its family in `schemas/avro/`; `to_avro` and
`from_avro` are the only places that know the field layout. The per-entity record inside
`EntitySynced` stays a mapping validated by the Avro schema: ten entity shapes are
described once, in `entity_synced.v1.avsc`, not twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar

from schemas.codec import Codec, default_codec
from schemas.errors import CodecError, InvalidCommand
from schemas.outbound import OutboundCommand, OutboundResult
from schemas.values import AvroValue

ENTITY_TYPES = (
    "item", "stock", "location", "contact", "salesorder", "invoice",
    "customerpayment", "creditnote", "bill", "vendorpayment",
)
# The Avro union branch that carries each entity type's record.
RECORD_TYPES = {
    "item": "tds.Item", "stock": "tds.ItemStock", "location": "tds.Location",
    "contact": "tds.Contact", "salesorder": "tds.SalesOrder", "invoice": "tds.Invoice",
    "customerpayment": "tds.CustomerPayment", "creditnote": "tds.CreditNote",
    "bill": "tds.Bill", "vendorpayment": "tds.VendorPayment",
}
RAW_SOURCES = ("webhook", "poll.stock", "poll.incremental", "poll.full", "poll.manual")
EVENT_KINDS = ("created", "edited", "deleted", "upsert", "snapshot", "ping", "unknown")
SYNC_STATUSES = ("started", "completed", "failed", "joined")
RUN_TYPES = ("full", "incremental", "stock", "manual")
COMMAND_KINDS = ("sync", "stock_sync", "deadletter_retry")


@dataclass(frozen=True, slots=True)
class RawEvent(AvroValue):
    """A raw Zoho event, body bytes exactly as received or fetched."""

    family: ClassVar[str] = "raw_event"
    event_id: str
    source: str
    org_id: str
    entity_type: str
    entity_id: str | None
    event_kind: str
    received_at: datetime
    body: bytes
    content_type: str
    signature_verified: bool
    sync_run_id: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EntitySynced(AvroValue):
    """One normalised record that passed the version rule (or a delete)."""

    family: ClassVar[str] = "entity_synced"
    event_id: str
    op: str
    org_id: str
    entity_type: str
    entity_id: str
    version_modified_at: datetime
    version_offset: int
    version_source: str
    content_hash: str
    source: str
    sync_run_id: str | None
    synced_at: datetime
    record: Mapping[str, Any] | None
    raw_json: str | None

    def to_avro(self) -> dict[str, Any]:
        """The dict fastavro writes; the record names its union branch explicitly."""
        value = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.record is not None:
            value["record"] = (RECORD_TYPES[self.entity_type], dict(self.record))
        return value

    @classmethod
    def from_avro(cls, value: Mapping[str, Any]) -> EntitySynced:
        """Build from a decoded dict (fastavro returns the union branch as a plain dict)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in value.items() if k in names})


# A record's versions in order: Zoho time, raw offset, event id.
SyncedVersion = tuple[datetime, int, str]


def synced_version(event: EntitySynced) -> SyncedVersion:
    """The total order of one record's `EntitySynced` events; every reader keeps the greatest.

    The event id only breaks ties between two different events of equal version, so the
    result never depends on arrival order.
    """
    return (event.version_modified_at, event.version_offset, event.event_id)


@dataclass(frozen=True, slots=True)
class SyncRunEntity:
    """One entity type's progress inside a run: records read, published, pages, total."""

    entity_type: str
    seen: int = 0
    sent: int = 0
    failed: int = 0
    pages: int = 0
    total: int | None = None  # when Zoho's page_context gives one


@dataclass(frozen=True, slots=True)
class SyncRunEvent(AvroValue):
    """A sync run's started / completed / failed / joined event with its counts; the
    poller repeats `started` with its progress while the run goes."""

    family: ClassVar[str] = "sync_run"
    event_id: str
    run_id: str
    status: str
    run_type: str
    source: str
    org_id: str
    entity_types: list[str]
    at: datetime
    started_at: datetime | None = None
    expected: int | None = None
    sent: int = 0
    seen: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    deleted: int = 0
    error: str | None = None
    configuration: dict[str, str] = field(default_factory=dict)
    entities: list[SyncRunEntity] = field(default_factory=list)

    def to_avro(self) -> dict[str, Any]:
        """The dict fastavro writes (entities as records)."""
        value = AvroValue.to_avro(self)
        value["entities"] = [asdict(e) for e in self.entities]
        return value

    @classmethod
    def from_avro(cls, value: Mapping[str, Any]) -> SyncRunEvent:
        """Build from a decoded dict (v1 values have no entities)."""
        names = {f.name for f in fields(cls)} - {"entities"}
        return cls(**{k: v for k, v in value.items() if k in names},
                   entities=[SyncRunEntity(**e) for e in value.get("entities") or ()])


@dataclass(frozen=True, slots=True)
class Command(AvroValue):
    """An operator's request, carried on tds.commands."""

    family: ClassVar[str] = "command"
    command_id: str
    kind: str
    run_id: str
    requested_at: datetime
    entity_types: list[str] = field(default_factory=list)
    source: str = "zoho"
    mode: str = "full"
    requested_by: str = "api"
    ids: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)


_BY_FAMILY: dict[str, type[AvroValue]] = {
    cls.family: cls
    for cls in (RawEvent, EntitySynced, SyncRunEvent, Command, OutboundCommand, OutboundResult)
}

AnyEvent = RawEvent | EntitySynced | SyncRunEvent | Command | OutboundCommand | OutboundResult


def decode_event(
    data: bytes,
    *,
    codec: Codec | None = None,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> AnyEvent:
    """Decode any TDS value into its dataclass; CodecError names where it came from."""
    family, value = (codec or default_codec()).decode(
        data, topic=topic, partition=partition, offset=offset
    )
    cls = _BY_FAMILY.get(family)
    if cls is None:
        raise CodecError(f"no dataclass for schema family {family!r}", topic=topic,
                         partition=partition, offset=offset)
    try:
        return cls.from_avro(value)  # type: ignore[return-value]  # _BY_FAMILY holds AnyEvent types
    except InvalidCommand as exc:  # decodes, but breaks the command rules: say where it was
        raise InvalidCommand(exc.field, exc.reason, topic=topic, partition=partition,
                             offset=offset) from None
