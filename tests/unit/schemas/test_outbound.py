"""Write-back commands: the rules, the keys, and the Avro round trip."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from schemas import outbound
from schemas.codec import default_codec
from schemas.errors import CodecError, InvalidCommand
from schemas.events import decode_event
from schemas.outbound import (
    OPERATIONS,
    OutboundCommand,
    OutboundResult,
    command_key,
    validate_command,
)
from schemas.topics import OUTBOUND, OUTBOUND_RESULTS, catalogue, parse_key

NOW = datetime(2025, 11, 13, 7, 30, tzinfo=UTC)


def command(**overrides: Any) -> dict[str, Any]:
    """A valid update of a sales order, changed by `overrides` (None removes a field)."""
    value: dict[str, Any] = {
        "command_id": "c-1", "org_id": "20077551234", "entity_type": "salesorder",
        "operation": "update", "entity_id": "460004000000000001",
        "base_version": "2025-11-13T10:30:00+0300", "fields": {"reference_number": "ERP-1"},
        "requested_by": "erp-web", "requested_at": NOW,
    }
    value.update(overrides)
    return {k: v for k, v in value.items() if v is not None}


CREATE = {"operation": "create", "entity_id": None, "base_version": None, "erp_ref": "SO-77"}


def refusal(**overrides: Any) -> InvalidCommand:
    with pytest.raises(InvalidCommand) as info:
        validate_command(command(**overrides))
    return info.value


def test_a_valid_command_is_built() -> None:
    built = validate_command(command())
    assert (built.entity_type, built.operation, built.entity_id) == (
        "salesorder", "update", "460004000000000001")
    assert built.fields == {"reference_number": "ERP-1"} and built.force is False


@pytest.mark.parametrize(("entity", "operation"), [
    (entity, op) for entity, ops in OPERATIONS.items() for op in ops])
def test_every_supported_pair_validates(entity: str, operation: str) -> None:
    if operation == "create":
        fields: dict[str, Any] = {"adjustment_type": "quantity", "line_items": [
            {"item_id": "1", "location_id": "2", "quantity_adjusted": 3}]} \
            if entity == "inventoryadjustment" else {"name": "x"}
        value = command(entity_type=entity, fields=fields, **CREATE)
    elif operation == "update":
        value = command(entity_type=entity)
    else:
        value = command(entity_type=entity, operation=operation, fields=None, base_version=None)
    assert validate_command(value).operation == operation


def test_the_supported_set_is_the_issues() -> None:
    assert OPERATIONS["salesorder"] == ("create", "update", "delete", "confirm", "void")
    assert OPERATIONS["invoice"] == ("create", "update", "delete", "mark_sent", "void")
    assert OPERATIONS["inventoryadjustment"] == ("create",)
    for entity in ("item", "contact", "customerpayment"):
        assert OPERATIONS[entity] == ("create", "update", "delete")


def test_unknown_entity_is_refused_listing_what_is_supported() -> None:
    error = refusal(entity_type="bill")
    assert error.field == "entity_type"
    assert "'bill' is not supported" in str(error)
    assert "salesorder: create, update, delete, confirm, void" in str(error)
    assert "inventoryadjustment: create" in str(error)


def test_unknown_operation_is_refused_listing_what_is_supported() -> None:
    error = refusal(entity_type="item", operation="void")
    assert error.field == "operation"
    assert "'void' is not supported for item" in str(error) and "item: create" in str(error)
    assert refusal(entity_type="inventoryadjustment").field == "operation"  # create only


@pytest.mark.parametrize("operation", ["update", "delete", "confirm", "void"])
def test_operations_on_a_record_need_entity_id(operation: str) -> None:
    fields = {"x": 1} if operation == "update" else None
    error = refusal(operation=operation, entity_id=None, fields=fields)
    assert (error.field, error.reason) == ("entity_id", "entity_id is required")


def test_create_needs_erp_ref() -> None:
    error = refusal(**{**CREATE, "erp_ref": None})
    assert (error.field, error.reason) == ("erp_ref", "erp_ref is required")


@pytest.mark.parametrize("fields", [[1, 2], "[1]", "not json", 5, '"text"'])
def test_fields_must_be_a_json_object(fields: Any) -> None:
    error = refusal(fields=fields)
    assert error.field == "fields"
    assert "JSON" in error.reason


def test_an_action_may_carry_a_body() -> None:
    void = validate_command(command(operation="void", fields={"reason": "customer cancelled"},
                                    base_version=None))
    assert void.fields == {"reason": "customer cancelled"}


def test_times_may_come_as_json_text() -> None:
    built = validate_command(command(requested_at="2025-11-13T10:30:00+0300"))
    assert built.requested_at == datetime(2025, 11, 13, 7, 30, tzinfo=UTC)
    assert validate_command(command(requested_at="2025-11-13T07:30:00Z")).requested_at == NOW


def test_fields_as_json_text_is_the_avro_form() -> None:
    assert validate_command(command(fields='{"a": 1}')).fields == {"a": 1}


@pytest.mark.parametrize(("overrides", "field"), [
    ({"command_id": None}, "command_id"),
    ({"org_id": 42}, "org_id"),
    ({"org_id": "1:2"}, "org_id"),
    ({"entity_id": "9:9"}, "entity_id"),
    ({"fields": {}}, "fields"),  # an update that changes nothing
    ({"operation": "delete"}, "fields"),  # delete takes no body: fields would be ignored
    ({"erp_ref": "x"}, "erp_ref"),  # an update names its record by entity_id
    ({**CREATE, "entity_id": "5"}, "entity_id"),
    ({**CREATE, "base_version": "2025-11-13T10:30:00+0300"}, "base_version"),
    ({"force": True, "base_version": None}, "force"),
    ({"force": "yes"}, "force"),
    ({"requested_at": datetime(2025, 1, 1)}, "requested_at"),  # naive on purpose
    ({"requested_by": None}, "requested_by"),
    ({"requested_at": "yesterday"}, "requested_at"),
    ({"requested_at": "2025-11-13T10:30:00"}, "requested_at"),  # no offset
    ({"base_version": "13/11/2025"}, "base_version"),
])
def test_refusals_name_the_field(overrides: dict[str, Any], field: str) -> None:
    assert refusal(**overrides).field == field


@pytest.mark.parametrize(("fields", "field"), [
    ({"line_items": [{"item_id": "1"}]}, "fields.adjustment_type"),
    ({"adjustment_type": "count", "line_items": [{"item_id": "1"}]}, "fields.adjustment_type"),
    ({"adjustment_type": "value", "line_items": []}, "fields.line_items"),
])
def test_inventory_adjustments_are_quantity_or_value_with_lines(
        fields: dict[str, Any], field: str) -> None:
    error = refusal(entity_type="inventoryadjustment", fields=fields, **CREATE)
    assert error.field == field


def test_keys() -> None:
    update = validate_command(command())
    assert update.key() == b"20077551234:salesorder:460004000000000001"
    create = validate_command(command(**CREATE))
    assert create.key() == b"20077551234:salesorder:erp:SO-77"
    assert parse_key(create.key()) == ("20077551234", "salesorder", "erp:SO-77")
    assert command_key("1", "item", "9", "ignored-when-id") == b"1:item:9"
    with pytest.raises(ValueError, match="entity_id or erp_ref"):
        command_key("1", "item", None, None)


def test_command_round_trips_through_avro() -> None:
    built = validate_command(command(fields={"b": [1, {"c": None}], "a": "ü"}, force=True))
    encoded = built.encode()
    back = decode_event(encoded)
    assert back == built
    # fields travel as canonical JSON text, so equal commands encode to equal bytes
    family, raw = default_codec().decode(encoded)
    assert family == "outbound_command" and raw["fields"] == '{"a":"ü","b":[1,{"c":null}]}'
    # A control: change one nested field and the decoded command no longer equals it.
    changed = validate_command(command(fields={"b": [1, {"c": 0}], "a": "ü"}, force=True))
    assert decode_event(changed.encode()) != built


def test_an_invalid_command_on_the_topic_is_refused_with_its_place() -> None:
    raw = OutboundCommand(command_id="c", org_id="1", entity_type="item", operation="void",
                          requested_by="x", requested_at=NOW, entity_id="5").encode()
    with pytest.raises(InvalidCommand, match=r"'void' is not supported.*at tds.outbound\[2\]@7"):
        decode_event(raw, topic=OUTBOUND, partition=2, offset=7)
    assert issubclass(InvalidCommand, CodecError)  # the codec's callers already handle it


@pytest.mark.parametrize("status", ["applied", "rejected", "conflict"])
def test_result_round_trips_with_its_ce_type(status: str) -> None:
    result = OutboundResult(event_id="e", command_id="c-1", status=status, org_id="1",
                            entity_type="invoice", operation="update", completed_at=NOW,
                            entity_id="9", zoho_version="2025-11-13T10:30:00+0300",
                            base_version="2025-11-13T10:00:00+0300", http_status=400,
                            zoho_code=1002, message="Invoice does not exist.")
    assert decode_event(result.encode()) == result
    assert result.ce_type == f"tds.outbound.{status}"
    assert result.key() == b"1:invoice:9"


def test_result_status_is_checked() -> None:
    with pytest.raises(ValueError, match="'done' is not one of applied, rejected, conflict"):
        OutboundResult(event_id="e", command_id="c", status="done", org_id="1",
                       entity_type="item", operation="create", completed_at=NOW)


def test_topics_carry_the_outbound_ce_types() -> None:
    specs = {s.name: s for s in catalogue()}
    assert specs[OUTBOUND].ce_types == (outbound.COMMAND_CE_TYPE,)
    assert specs[OUTBOUND_RESULTS].ce_types == outbound.RESULT_CE_TYPES
    assert specs[OUTBOUND].cleanup == specs[OUTBOUND_RESULTS].cleanup == "delete"
    assert specs[OUTBOUND].retention_ms == 7 * 24 * 3600 * 1000


def test_a_create_result_is_keyed_by_the_new_id_once_zoho_gave_one() -> None:
    base: dict[str, Any] = {"event_id": "e", "command_id": "c", "org_id": "1",
                            "entity_type": "item", "operation": "create", "completed_at": NOW,
                            "erp_ref": "SKU-9"}
    assert OutboundResult(status="applied", entity_id="77", **base).key() == b"1:item:77"
    assert OutboundResult(status="rejected", **base).key() == b"1:item:erp:SKU-9"
