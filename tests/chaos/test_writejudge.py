"""The chaos run's judgement of write-back commands (no services needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.chaos.report import failures, markdown
from tests.chaos.writejudge import ReadModels, Sent, Truth, account

V1, V2 = "2026-12-04T10:00:00+0000", "2026-12-04T10:05:00+0000"
AT_V2 = datetime(2026, 12, 4, 10, 5, tzinfo=UTC)


def _sent() -> list[Sent]:
    create = Sent("create salesorder", {"command_id": "c1", "entity_type": "salesorder",
                                        "operation": "create", "erp_ref": "R1"}, ("applied",),
                  needs=(("contacts", "k1"),), reference="R1", reference_field="reference_number")
    stale = Sent("update item (stale base_version)", {
        "command_id": "c2", "entity_type": "item", "operation": "update", "entity_id": "i1",
        "fields": {"brand": "B"}}, ("conflict",), needs=(("items", "i1"),), sets=("brand", "B"))
    delete = Sent("delete salesorder", {"command_id": "c3", "entity_type": "salesorder",
                                        "operation": "delete", "entity_id": "s9"}, ("applied",),
                  needs=(("salesorders", "s9"),))
    for one in (create, stale, delete):
        one.accepted, one.tries = True, 1
    return [create, stale, delete]


def _world() -> tuple[dict[str, dict[str, Any]], Truth, ReadModels]:
    rows = {"c1": {"status": "applied", "zoho_id": "s1", "zoho_version": V2},
            "c2": {"status": "conflict", "zoho_id": "i1"},
            "c3": {"status": "applied", "zoho_id": "s9"}}
    truth: Truth = {
        "salesorders": {"records": {"s1": {"reference_number": "R1"}}, "deleted": ["s9"]},
        "items": {"records": {"i1": {"brand": "A"}}, "deleted": []},
        "contacts": {"records": {"k1": {}}, "deleted": []},
        "inventoryadjustments": {"records": {}}}
    read: ReadModels = {"sales_orders": {"s1": AT_V2}, "items": {"i1": AT_V2}, "contacts": {}}
    return rows, truth, read


def test_a_clean_run_has_no_problems() -> None:
    rows, truth, read = _world()
    judged = account(_sent(), rows, truth, read, [])
    assert judged["problems"] == []
    assert (judged["sent"], judged["applied"], judged["conflict"]) == (3, 2, 1)


def test_every_defect_is_counted() -> None:
    rows, truth, read = _world()
    truth["salesorders"]["records"]["s2"] = {"reference_number": "R1"}  # a second create
    truth["items"]["records"]["i1"]["brand"] = "B"  # a conflict that wrote anyway
    truth["salesorders"]["records"]["s9"] = {}  # an applied delete that deleted nothing
    read["sales_orders"]["s1"] = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)  # older than Zoho
    judged = account(_sent(), rows, truth, read, ["boom"])
    assert {k: judged[k] for k in ("duplicates", "effects_without_outcome", "missing_effects",
                                   "not_in_read_models")} == dict.fromkeys(
        ("duplicates", "effects_without_outcome", "missing_effects", "not_in_read_models"), 1)
    assert "the sender failed: boom" in judged["problems"]
    # The delete's row still in its read model, too.
    read["sales_orders"]["s9"] = AT_V2
    assert account(_sent(), rows, truth, read, [])["not_in_read_models"] == 2


def test_outcomes_must_exist_and_be_expected() -> None:
    rows, truth, read = _world()
    del rows["c3"]
    rows["c1"] = {"status": "rejected", "http_status": 400, "zoho_code": 2, "message": "no"}
    truth["salesorders"]["records"] = {}
    judged = account(_sent(), rows, truth, read, [])
    assert (judged["no_outcome"], judged["unexpected_outcomes"]) == (1, 1)
    # A rejection is expected once the simulator deleted what the command needed.
    truth["contacts"]["records"] = {}
    assert account(_sent(), rows, truth, read, [])["unexpected_outcomes"] == 0
    assert account([], rows, truth, read, [])["problems"] == [
        "no write-back command was sent during the chaos"]


def test_write_back_problems_fail_the_run_and_are_shown() -> None:
    rows, truth, read = _world()
    truth["salesorders"]["records"]["s2"] = {"reference_number": "R1"}
    report = {"event_path": {"converged": True}, "whole_system": {"converged": True},
              "faults": [], "unexplained_dead_letters": [], "dead_letters_by_reason": {},
              "seed": 1, "config": {"recovery_timeout_s": 30, "writeback_commands": 3},
              "writeback": {**account(_sent(), rows, truth, read, []), "settle_s": 4.0}}
    assert failures(report) == [
        "write-back: duplicates: create salesorder c1: R1 also in ['s2']"]
    text = markdown(report)
    assert "| 3 | 3 | 2 | 0 | 1 | 0 | 0 | 1 | 0 | 0 | 0 | 0 |" in text
    assert "| create salesorder | 1 | 0 | 0 | 0 | 0 |" in text
    planned = {k: v for k, v in report.items() if k != "writeback"}
    assert failures(planned) == ["write-back: commands were planned but never judged"]
