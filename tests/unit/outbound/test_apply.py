"""The writer's mapping and its decisions (conflict, unknown outcome) on a stub Zoho."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from api.errors import BadRequest
from api.outbound import check
from consumers.outbound import mapping
from consumers.outbound.apply import Applier
from consumers.outbound.port import ZohoRefused
from schemas.outbound import OutboundCommand, validate_command
from tds.metrics import Metrics

NOW = datetime(2025, 11, 13, 7, 30, tzinfo=UTC)
OLD, NEW = "2025-11-13T10:00:00+0300", "2025-11-13T10:30:00+0300"


def _command(**values: Any) -> OutboundCommand:
    return validate_command({"command_id": "c1", "org_id": "42", "requested_by": "t",
                             "requested_at": NOW, **values})


class StubZoho:
    """Records calls; answers from a table of records and a list of queued answers."""

    organization_id = "42"

    def __init__(self, records: dict[str, dict[str, Any]] | None = None,
                 listed: list[dict[str, Any]] | None = None) -> None:
        self.records = records or {}
        self.listed = listed or []
        self.calls: list[tuple[str, str, Mapping[str, Any] | None]] = []
        self.refuse: ZohoRefused | None = None

    async def call(self, method: str, product: str, path: str, *,
                   body: Mapping[str, Any] | None = None,
                   params: Mapping[str, str] | None = None, endpoint: str) -> dict[str, Any]:
        self.calls.append((method, path, body or params))
        if method == "GET" and path.count("/") == 1:  # a list: the lookup
            return {"salesorders": self.listed}
        record_id = path.split("/")[2] if path.count("/") >= 2 else None
        if method == "GET":
            if record_id not in self.records:
                raise ZohoRefused("not found", status=404, code=1002)
            return {"salesorder": self.records[record_id]}
        if self.refuse is not None:
            raise self.refuse
        if method == "POST" and record_id is None:
            return {"code": 0, "message": "Sales Order has been created.",
                    "salesorder": {"salesorder_id": "9", "last_modified_time": NEW, **(body or {})}}
        if method == "DELETE":
            return {"code": 0, "message": "deleted"}
        if "/status/" in path:
            self.records[str(record_id)]["status"] = path.rsplit("/", 1)[1]
            return {"code": 0, "message": "done"}
        record = {**self.records[str(record_id)], **(body or {}), "last_modified_time": NEW}
        self.records[str(record_id)] = record
        return {"salesorder": record}


async def _apply(zoho: StubZoho, command: OutboundCommand, unknown: bool = False) -> Any:
    sent: list[bool] = []

    async def before_send() -> None:
        sent.append(True)

    applied = await Applier(zoho=zoho, metrics=Metrics.create()).apply(
        command, unknown=unknown, before_send=before_send)
    return applied, len(sent)


def test_mapping_writes_the_reference_and_builds_calls() -> None:
    create = _command(entity_type="salesorder", operation="create", erp_ref="SO-1",
                      fields={"customer_id": "1"})
    call = mapping.call_for(create)
    assert (call.method, call.product, call.path) == ("POST", "inventory", "/salesorders")
    assert call.body == {"customer_id": "1", "reference_number": "SO-1"}
    assert mapping.lookup_params(create) == {"reference_number": "SO-1"}
    item = _command(entity_type="item", operation="create", erp_ref="E-9",
                    fields={"name": "Pump", "sku": "P-1"})
    assert mapping.lookup_params(item) == {"sku": "P-1"}  # the ERP's own SKU is kept
    contact = _command(entity_type="contact", operation="create", erp_ref="C-1",
                       fields={"contact_name": "Acme"})
    assert mapping.create_body(contact) == {"contact_name": "Acme"}
    assert mapping.lookup_params(contact) == {"contact_name": "Acme"}
    void = _command(entity_type="invoice", operation="mark_sent", entity_id="5")
    assert mapping.call_for(void).path == "/invoices/5/status/sent"
    confirm = _command(entity_type="salesorder", operation="confirm", entity_id="5")
    assert mapping.call_for(confirm).path == "/salesorders/5/status/confirmed"
    assert mapping.is_newer(NEW, OLD) and not mapping.is_newer(OLD, NEW)
    assert not mapping.is_newer(OLD, "2025-11-13T07:00:00Z")  # the same moment
    assert mapping.holds_fields({"rate": "12.50", "name": "x"}, {"rate": 12.5, "name": "x"})
    assert not mapping.holds_fields({"rate": 1}, {"line_items": []})


async def test_conflict_unless_forced() -> None:
    zoho = StubZoho({"5": {"salesorder_id": "5", "last_modified_time": NEW}})
    stale = _command(entity_type="salesorder", operation="update", entity_id="5",
                     base_version=OLD, fields={"salesperson_name": "A"})
    applied, sent = await _apply(zoho, stale)
    assert applied.outcome.status == "conflict" and sent == 0
    assert applied.outcome.current_version == NEW
    forced = _command(entity_type="salesorder", operation="update", entity_id="5",
                      base_version=OLD, force=True, fields={"salesperson_name": "A"})
    applied, sent = await _apply(zoho, forced)
    assert applied.outcome.status == "applied" and sent == 1


async def test_unknown_outcomes_are_resolved_without_a_second_effect() -> None:
    create = _command(entity_type="salesorder", operation="create", erp_ref="SO-1",
                      fields={"customer_id": "1"})
    full = {"salesorder_id": "7", "reference_number": "SO-1", "last_modified_time": NEW,
            "line_items": [{"item_id": "2"}]}
    zoho = StubZoho({"7": full}, listed=[{"salesorder_id": "7", "reference_number": "SO-1",
                                          "last_modified_time": NEW}])
    applied, sent = await _apply(zoho, create, unknown=True)
    assert (applied.outcome.status, applied.outcome.zoho_id, sent) == ("applied", "7", 0)
    assert applied.record == full  # the whole record is fed back, not the list's row
    applied, sent = await _apply(StubZoho(), create, unknown=True)  # not there: sent
    assert (applied.outcome.zoho_id, sent) == ("9", 1)

    # Our own earlier update moved the version past base_version: not a conflict.
    zoho = StubZoho({"5": {"salesorder_id": "5", "salesperson_name": "A",
                           "last_modified_time": NEW}})
    update = _command(entity_type="salesorder", operation="update", entity_id="5",
                      base_version=OLD, fields={"salesperson_name": "A"})
    applied, sent = await _apply(zoho, update, unknown=True)
    assert (applied.outcome.status, sent) == ("applied", 0)

    confirm = _command(entity_type="salesorder", operation="confirm", entity_id="5")
    zoho.records["5"]["status"] = "confirmed"
    applied, sent = await _apply(zoho, confirm, unknown=True)
    assert (applied.outcome.status, sent) == ("applied", 0)

    delete = _command(entity_type="salesorder", operation="delete", entity_id="6")
    zoho.refuse = ZohoRefused("gone", status=404, code=1002)
    applied, _ = await _apply(zoho, delete, unknown=True)
    assert applied.outcome.status == "applied" and applied.deleted
    applied, _ = await _apply(zoho, delete, unknown=False)  # a first send: Zoho's refusal
    assert (applied.outcome.status, applied.outcome.zoho_code) == ("rejected", 1002)


async def test_refusals_carry_zoho_code_and_another_org_is_refused() -> None:
    zoho = StubZoho()
    zoho.refuse = ZohoRefused("Invalid value passed for date", status=400, code=2)
    create = _command(entity_type="salesorder", operation="create", erp_ref="SO-1",
                      fields={"date": "x"})
    applied, _ = await _apply(zoho, create)
    assert (applied.outcome.status, applied.outcome.zoho_code, applied.outcome.message) == (
        "rejected", 2, "Invalid value passed for date")
    other = _command(entity_type="salesorder", operation="create", erp_ref="SO-1",
                     fields={"date": "x"}, org_id="43")
    applied, sent = await _apply(StubZoho(), other)
    assert applied.outcome.status == "rejected" and sent == 0
    assert "43" in (applied.outcome.message or "")


def test_the_api_door_names_the_field() -> None:
    good = {"org_id": "42", "entity_type": "item", "operation": "delete", "entity_id": "1"}
    assert check([good], now=NOW)[0].requested_by == "api"
    cases = [({**good, "colour": "red"}, "command.colour"),
             ({**good, "entity_id": "a\x00b"}, "command.entity_id"),
             ({**good, "operation": "update", "fields": {"a": ["\x00"]}}, "command.fields.a[0]"),
             ({**good, "operation": "update"}, "command.fields")]
    for body, field in cases:
        with pytest.raises(BadRequest) as caught:
            check([body], now=NOW)
        assert field in str(caught.value), (body, caught.value)
    twice = [{**good, "command_id": "x"}, {**good, "command_id": "x", "entity_id": "2"}]
    with pytest.raises(BadRequest, match=r"commands\[1\].command_id"):
        check(twice, now=NOW)
