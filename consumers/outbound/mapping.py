"""Write-back commands → Zoho calls: where each entity lives, what each operation sends,
and the reference a create is found by when its outcome is unknown.

No I/O here: the writer (`consumers.outbound.writer`) makes the calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.outbound import CONFIRM, CREATE, DELETE, MARK_SENT, UPDATE, VOID, OutboundCommand


@dataclass(frozen=True, slots=True)
class Target:
    """Where one entity type is written in Zoho, and what a create is looked up by."""

    product: str  # "books" or "inventory"
    path: str
    single_key: str  # envelope key of the record in a create/update/get answer
    list_key: str
    id_field: str
    # The field a create writes TDS's reference into (unless the command sets it) and
    # looks the record up by after an unknown outcome. Contacts have no free reference
    # field in Zoho's list filters; their name is unique in Zoho, so it is the reference.
    reference: str
    reference_from_erp: bool = True  # write erp_ref there when the command does not


TARGETS: Mapping[str, Target] = {
    "item": Target("inventory", "/items", "item", "items", "item_id", "sku"),
    "contact": Target("books", "/contacts", "contact", "contacts", "contact_id",
                      "contact_name", reference_from_erp=False),
    "salesorder": Target("inventory", "/salesorders", "salesorder", "salesorders",
                         "salesorder_id", "reference_number"),
    "invoice": Target("books", "/invoices", "invoice", "invoices", "invoice_id",
                      "reference_number"),
    "customerpayment": Target("books", "/customerpayments", "payment", "customerpayments",
                              "payment_id", "reference_number"),
    "inventoryadjustment": Target("inventory", "/inventoryadjustments",
                                  "inventory_adjustment", "inventory_adjustments",
                                  "inventory_adjustment_id", "reference_number"),
}
# Status actions: (entity, operation) → (URL status, the record's status afterwards).
ACTIONS: Mapping[tuple[str, str], tuple[str, str]] = {
    ("salesorder", CONFIRM): ("confirmed", "confirmed"),
    ("salesorder", VOID): ("void", "void"),
    ("invoice", MARK_SENT): ("sent", "sent"),
    ("invoice", VOID): ("void", "void"),
}
# The entity types whose records the read models hold (an adjustment changes items).
READ_MODEL_TYPES = frozenset({"item", "contact", "salesorder", "invoice", "customerpayment"})


@dataclass(frozen=True, slots=True)
class ZohoCall:
    """One HTTP call to Zoho."""

    method: str
    product: str
    path: str
    body: Mapping[str, Any] | None
    endpoint: str  # the metrics label


def target(command: OutboundCommand) -> Target:
    """The Zoho target of the command's entity type."""
    return TARGETS[command.entity_type]


def create_body(command: OutboundCommand) -> dict[str, Any]:
    """The fields to send, with TDS's reference written in when the command left it out."""
    spec = target(command)
    body = dict(command.fields)
    if spec.reference_from_erp and not body.get(spec.reference):
        body[spec.reference] = command.erp_ref
    return body


def reference_of(command: OutboundCommand) -> str | None:
    """The value a create's record is looked up by (None: nothing to look up by)."""
    value = create_body(command).get(target(command).reference)
    return str(value) if value not in (None, "") else None


def call_for(command: OutboundCommand) -> ZohoCall:
    """The one call that applies the command."""
    spec = target(command)
    family = spec.path.strip("/")
    if command.operation == CREATE:
        return ZohoCall("POST", spec.product, spec.path, create_body(command), family)
    record = f"{spec.path}/{command.entity_id}"
    if command.operation == UPDATE:
        return ZohoCall("PUT", spec.product, record, dict(command.fields), family)
    if command.operation == DELETE:
        return ZohoCall("DELETE", spec.product, record, None, family)
    url_status, _ = ACTIONS[(command.entity_type, command.operation)]
    return ZohoCall("POST", spec.product, f"{record}/status/{url_status}",
                    dict(command.fields) or None, f"{family}/status")


def lookup_params(command: OutboundCommand) -> dict[str, str] | None:
    """The list query that finds the record a create made, or None."""
    reference = reference_of(command)
    if reference is None:
        return None
    return {target(command).reference: reference}


def action_status(command: OutboundCommand) -> str | None:
    """The status a status action leaves the record in (None for other operations)."""
    found = ACTIONS.get((command.entity_type, command.operation))
    return found[1] if found else None


def parse_version(text: Any) -> datetime | None:
    """Zoho's `last_modified_time` (`2025-11-13T10:30:00+0300`) as an aware datetime."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def is_newer(current: str | None, base: str) -> bool:
    """Whether Zoho's version `current` is after the version the ERP saw."""
    now, then = parse_version(current), parse_version(base)
    return now is not None and then is not None and now > then


def holds_fields(record: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    """Whether the record already carries every scalar field of an update (our own earlier
    send, whose answer was lost). False when there is no scalar field to compare."""
    scalars = {k: v for k, v in fields.items() if not isinstance(v, (dict, list))}
    if not scalars:
        return False
    return all(_same(record.get(k), v) for k, v in scalars.items())


def _same(have: Any, want: Any) -> bool:
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        try:
            return float(have) == float(want)
        except (TypeError, ValueError):
            return False
    return str(have if have is not None else "") == str(want)
