"""Write-back (ERP → Zoho): the command and result values, their keys and the command rules.

`validate_command` is the one door every command passes, whether it comes from JSON (the
API) or from Avro (a service producing to `tds.outbound`): `OutboundCommand.from_avro`
calls it, so an invalid command never becomes a value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar

import orjson

from schemas.errors import InvalidCommand
from schemas.topics import entity_key
from schemas.values import AvroValue

CREATE, UPDATE, DELETE = "create", "update", "delete"
CONFIRM, VOID, MARK_SENT = "confirm", "void", "mark_sent"
CRUD = (CREATE, UPDATE, DELETE)
# What TDS writes back, per entity type (the set): anything else is refused.
OPERATIONS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "item": CRUD,
    "contact": CRUD,
    "salesorder": (*CRUD, CONFIRM, VOID),
    "invoice": (*CRUD, MARK_SENT, VOID),
    "customerpayment": CRUD,
    "inventoryadjustment": (CREATE,),  # Zoho adjustments are only ever created
})
ADJUSTMENT_TYPES = ("quantity", "value")

COMMAND_CE_TYPE = "tds.outbound.requested"
APPLIED, REJECTED, CONFLICT = "applied", "rejected", "conflict"
RESULT_STATUSES = (APPLIED, REJECTED, CONFLICT)
RESULT_CE_TYPES = tuple(f"tds.outbound.{status}" for status in RESULT_STATUSES)
# Headers of what a write-back caused: the record fed back into zoho.raw.realtime and the
# tds.entity.synced event made of it, so ERP services can tell their own changes apart.
# The raw event carries the same pair in its attributes (`origin`, `command_id`).
H_COMMAND_ID, H_ORIGIN = "tds_command_id", "tds_origin"
ORIGIN_ERP = "erp"


def supported() -> str:
    """The supported set as one line, for refusals: `item: create, update, delete; ...`."""
    return "; ".join(f"{entity}: {', '.join(ops)}" for entity, ops in OPERATIONS.items())


@dataclass(frozen=True, slots=True)
class OutboundCommand(AvroValue):
    """One write-back command, valid by construction when built through validate_command."""

    family: ClassVar[str] = "outbound_command"
    command_id: str
    org_id: str
    entity_type: str
    operation: str
    requested_by: str
    requested_at: datetime
    entity_id: str | None = None
    erp_ref: str | None = None
    base_version: str | None = None
    force: bool = False
    fields: Mapping[str, Any] = field(default_factory=dict)

    def to_avro(self) -> dict[str, Any]:
        """The dict fastavro writes; `fields` travels as canonical JSON text (sorted keys)."""
        value = {f.name: getattr(self, f.name) for f in dataclass_fields(self)}
        value["fields"] = orjson.dumps(dict(self.fields), option=orjson.OPT_SORT_KEYS).decode()
        return value

    @classmethod
    def from_avro(cls, value: Mapping[str, Any]) -> OutboundCommand:
        """Build from a decoded dict; InvalidCommand names the field that breaks the rules."""
        return validate_command(value)

    def key(self) -> bytes:
        """The Kafka key of this command (see `command_key`)."""
        return command_key(self.org_id, self.entity_type, self.entity_id, self.erp_ref)

    def to_json(self) -> dict[str, Any]:
        """The command as the API takes and shows it (times in ISO 8601)."""
        value = {f.name: getattr(self, f.name) for f in dataclass_fields(self)}
        value["requested_at"] = self.requested_at.isoformat()
        value["fields"] = dict(self.fields)
        return value

    def content_hash(self) -> str:
        """SHA-256 of what the command asks Zoho to do (every field but `requested_at`
        and `requested_by`): a command_id sent again must carry the same content."""
        value = self.to_json()
        del value["requested_at"], value["requested_by"]
        return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class OutboundResult(AvroValue):
    """What became of one command: applied, rejected (with Zoho's code) or conflict."""

    family: ClassVar[str] = "outbound_result"
    event_id: str
    command_id: str
    status: str
    org_id: str
    entity_type: str
    operation: str
    completed_at: datetime
    entity_id: str | None = None
    erp_ref: str | None = None
    zoho_version: str | None = None
    base_version: str | None = None
    http_status: int | None = None
    zoho_code: int | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.status not in RESULT_STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {', '.join(RESULT_STATUSES)}")

    @property
    def ce_type(self) -> str:
        """The CloudEvents type of this result: `tds.outbound.<status>`."""
        return f"tds.outbound.{self.status}"

    def key(self) -> bytes:
        """The record's key: `org:type:id` once Zoho has given it an id (a create's applied
        result too, so later results of the record share its partition), else the erp key."""
        return command_key(self.org_id, self.entity_type, self.entity_id, self.erp_ref)


def command_key(org_id: str, entity_type: str, entity_id: str | None,
                erp_ref: str | None) -> bytes:
    """`org:entity_type:entity_id`, or `org:entity_type:erp:<erp_ref>` for a create.

    A record's commands then share a partition with each other (and, once it has an id,
    with its `tds.entity.synced` events), so they are applied in order.
    """
    if entity_id:
        return entity_key(org_id, entity_type, entity_id)
    if erp_ref:
        return entity_key(org_id, entity_type, f"erp:{erp_ref}")
    raise ValueError("a command key needs entity_id or erp_ref")


def _text(value: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    raw = value.get(name)
    if raw is None or raw == "":
        if required:
            raise InvalidCommand(name, f"{name} is required")
        return None
    if not isinstance(raw, str):
        raise InvalidCommand(name, f"{name} must be a string, got {type(raw).__name__}")
    if ":" in raw and name in ("org_id", "entity_id"):
        raise InvalidCommand(name, f"{name}={raw!r} must not contain ':' (it is part of the key)")
    return raw


def _moment(raw: Any, name: str) -> datetime:
    """A timezone-aware datetime, or ISO 8601 text with an offset (JSON's form; Zoho's
    `2025-11-13T10:30:00+0300` included)."""
    if isinstance(raw, str):
        try:
            raw = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidCommand(name, f"{name}={raw!r} is not an ISO 8601 time") from None
    if not isinstance(raw, datetime) or raw.tzinfo is None:
        raise InvalidCommand(name, f"{name} must be a time with a UTC offset, e.g. "
                             "2025-11-13T10:30:00+0300")
    return raw


def _fields(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):  # the Avro form: JSON object text
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidCommand("fields", f"fields is not JSON: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidCommand("fields", f"fields must be a JSON object, got {type(raw).__name__}")
    return raw


def _check_shape(entity_type: str, operation: str, value: Mapping[str, Any],
                 fields: Mapping[str, Any]) -> None:
    """The per-operation rules: what each operation needs, and refuses to ignore."""
    if operation == CREATE:
        _text(value, "erp_ref", required=True)
        for unused in ("entity_id", "base_version"):
            if value.get(unused):
                raise InvalidCommand(unused, f"{unused} is not used by create (Zoho assigns the "
                                     "id; there is no earlier version to compare)")
    else:
        _text(value, "entity_id", required=True)
        if value.get("erp_ref"):
            raise InvalidCommand("erp_ref", f"erp_ref is used by create only; {operation} "
                                 "names its record by entity_id")
    if operation in (CREATE, UPDATE) and not fields:
        raise InvalidCommand("fields", f"fields must not be empty for {operation}")
    # Actions may carry a body (Books' sales order void takes `reason`); a delete has none.
    if operation == DELETE and fields:
        raise InvalidCommand("fields", "fields must be empty for delete (Zoho's delete takes "
                             "no body)")
    if value.get("force") and not value.get("base_version"):
        raise InvalidCommand("force", "force overrides a base_version conflict; without "
                             "base_version it has nothing to override")
    if entity_type == "inventoryadjustment":
        kind = fields.get("adjustment_type")
        if kind not in ADJUSTMENT_TYPES:
            raise InvalidCommand("fields.adjustment_type", f"fields.adjustment_type={kind!r} "
                                 f"must be one of {', '.join(ADJUSTMENT_TYPES)}")
        lines = fields.get("line_items")
        if not isinstance(lines, list) or not lines:
            raise InvalidCommand("fields.line_items", "fields.line_items must be a non-empty "
                                 "list (item_id, location_id and the adjusted quantity or value)")


def validate_command(value: Mapping[str, Any]) -> OutboundCommand:
    """Check a command (a JSON object or a decoded Avro dict) and build it.

    Raises InvalidCommand naming the first field that is wrong and how to fix it.
    """
    command_id = _text(value, "command_id", required=True)
    org_id = _text(value, "org_id", required=True)
    entity_type = _text(value, "entity_type", required=True)
    operation = _text(value, "operation", required=True)
    assert command_id and org_id and entity_type and operation  # required=True
    if entity_type not in OPERATIONS:
        raise InvalidCommand("entity_type", f"entity_type {entity_type!r} is not supported; "
                             f"supported: {supported()}")
    if operation not in OPERATIONS[entity_type]:
        raise InvalidCommand("operation", f"operation {operation!r} is not supported for "
                             f"{entity_type}; supported: {supported()}")
    fields = _fields(value.get("fields"))
    _check_shape(entity_type, operation, value, fields)
    requested_at = _moment(value.get("requested_at"), "requested_at")
    base_version = _text(value, "base_version", required=False)
    if base_version is not None:
        _moment(base_version, "base_version")  # compared with Zoho's later: must parse now
    force = value.get("force", False)
    if not isinstance(force, bool):
        raise InvalidCommand("force", f"force must be true or false, got {force!r}")
    return OutboundCommand(
        command_id=command_id,
        org_id=org_id,
        entity_type=entity_type,
        operation=operation,
        requested_by=_text(value, "requested_by", required=True) or "",
        requested_at=requested_at,
        entity_id=_text(value, "entity_id", required=False),
        erp_ref=_text(value, "erp_ref", required=False),
        base_version=base_version,
        force=force,
        fields=fields,
    )
