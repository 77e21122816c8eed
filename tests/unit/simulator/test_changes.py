"""The change engine: creates, edits, deletes, stock moves, timestamps and the change log."""

from __future__ import annotations

from typing import Any

from tests.support.waits import until
from tests.unit.simulator.conftest import Sim


async def _apply(sim: Sim, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = await sim.control("changes", {"apply": changes})
    applied = body["applied"]
    assert isinstance(applied, list)
    return applied


async def test_edit_bumps_last_modified_time_strictly_even_within_a_second(sim: Sim) -> None:
    item_id = next(iter(sim.state.store.table("items").records))
    _, before, _ = await sim.call(f"/items/{item_id}")
    stamps = [before["item"]["last_modified_time"]]
    for _ in range(3):  # the manual clock does not move: all three land in the same second
        (change,) = await _apply(sim, [{"entity": "items", "action": "edited", "id": item_id}])
        assert change["entity"] == "items" and change["id"] == item_id
        assert change["action"] == "edited"
        _, after, _ = await sim.call(f"/items/{item_id}")
        stamps.append(after["item"]["last_modified_time"])
        assert stamps[-1] == change["last_modified_time"]
    assert len(set(stamps)) == 4
    assert stamps == sorted(stamps)
    assert stamps[1].startswith("2025-11-13T05:13:20")  # the simulator clock, org offset


async def test_explicit_fields_and_the_incremental_filter(sim: Sim) -> None:
    contact_id = list(sim.state.store.table("contacts").records)[3]
    (change,) = await _apply(
        sim,
        [
            {
                "entity": "contacts",
                "action": "edited",
                "id": contact_id,
                "fields": {"contact_name": "Renamed <b>Ltd</b>", "status": "inactive"},
            }
        ],
    )
    _, body, _ = await sim.call(f"/contacts/{contact_id}")
    assert body["contact"]["contact_name"] == "Renamed <b>Ltd</b>"
    assert body["contact"]["status"] == "inactive"
    _, body, _ = await sim.call("/contacts", {"last_modified_time": change["last_modified_time"]})
    assert [c["contact_id"] for c in body["contacts"]] == [contact_id]
    resp = await sim.client.post(
        "/_sim/changes",
        json={
            "apply": [
                {
                    "entity": "contacts",
                    "action": "edited",
                    "id": contact_id,
                    "fields": {"contact_id": "1"},
                }
            ]
        },
    )
    assert resp.status == 400


async def test_delete_then_404_and_ground_truth(sim: Sim) -> None:
    invoice_id = list(sim.state.store.table("invoices").records)[5]
    (change,) = await _apply(sim, [{"entity": "invoices", "action": "deleted", "id": invoice_id}])
    assert change["action"] == "deleted"
    status, body, _ = await sim.call(f"/invoices/{invoice_id}")
    assert (status, body) == (404, {"code": 1002, "message": "Invoice does not exist."})
    _, listing, _ = await sim.call("/invoices")
    assert invoice_id not in {r["invoice_id"] for r in listing["invoices"]}
    truth = await sim.control("state/invoices")
    assert invoice_id in truth["deleted"] and invoice_id not in truth["records"]
    resp = await sim.client.post(
        "/_sim/changes",
        json={"apply": [{"entity": "invoices", "action": "edited", "id": invoice_id}]},
    )
    assert resp.status == 400


async def test_create_appears_with_a_new_higher_id(sim: Sim) -> None:
    before = list(sim.state.store.table("salesorders").records)
    (change,) = await _apply(sim, [{"entity": "salesorders", "action": "created"}])
    assert int(change["id"]) > int(before[-1])
    _, body, _ = await sim.call(f"/salesorders/{change['id']}")
    order = body["salesorder"]
    assert order["created_time"] == order["last_modified_time"] == change["last_modified_time"]
    assert order["line_items"]
    _, listing, _ = await sim.call("/salesorders")
    assert listing["salesorders"][-1]["salesorder_id"] == change["id"]


async def test_stock_movement_keeps_sums(sim: Sim) -> None:
    item_id = list(sim.state.store.table("items").records)[1]
    for _ in range(10):
        await _apply(sim, [{"entity": "items", "action": "stock", "id": item_id}])
        _, body, _ = await sim.call(f"/items/{item_id}")
        item = body["item"]
        total = sum(float(x["location_stock_on_hand"]) for x in item["locations"])
        assert total == item["stock_on_hand"] >= 0
    assert sim.state.stats.changes["stock"] == 10


async def test_random_changes_are_deterministic_and_logged(sim: Sim) -> None:
    body = await sim.control("changes", {"apply": 50})
    applied = body["applied"]
    assert len(applied) == 50
    assert {c["action"] for c in applied} <= {"created", "edited", "deleted"}
    assert {"entity", "id", "action", "webhook"} <= set(applied[0])
    log = await sim.control("changes")
    assert [c["seq"] for c in log["changes"]] == list(range(1, 51))
    tail = await sim.client.get("/_sim/changes", params={"since": "45"})
    assert [c["seq"] for c in (await tail.json())["changes"]] == [46, 47, 48, 49, 50]
    stats = await sim.control("stats")
    assert stats["changes"]["total"] == 50
    for change in applied:
        truth = sim.state.store.table(change["entity"])
        if change["action"] == "deleted":
            assert change["id"] in truth.deleted
        elif change["id"] in truth.records:
            assert (
                truth.records[change["id"]].data["last_modified_time"]
                >= change["last_modified_time"][:19]
            )


async def test_no_webhook_fraction_tags_changes(sim: Sim) -> None:
    body = await sim.control("changes", {"no_webhook_fraction": 1.0, "apply": 20})
    assert all(not c["webhook"] for c in body["applied"])
    assert {c["source"] for c in body["applied"]} <= {"import", "custom_function"}
    body = await sim.control("changes", {"no_webhook_fraction": 0.0, "apply": 20})
    assert all(c["webhook"] and c["source"] == "user" for c in body["applied"])
    stats = await sim.control("stats")
    assert stats["webhooks"]["suppressed"] == 20


async def test_background_rate_starts_and_stops(sim: Sim) -> None:
    await sim.control("changes", {"rate": 100})
    await until(lambda: sim.state.stats.changes.total() >= 10, 10, what="changes started")
    body = await sim.control("changes", {"rate": 0})
    assert body["rate"] == 0
    task = sim.state.changes._task  # the background loop: it ends once the rate is 0
    assert task is not None
    # Ended by itself (not cancelled): no change can follow the stop.
    await until(task.done, 10, what="the background loop ended")
    assert not task.cancelled()


async def test_bad_change_requests(sim: Sim) -> None:
    for body in (
        {"apply": [{"entity": "locations", "action": "edited"}]},
        {"apply": [{"entity": "items", "action": "exploded"}]},
        {"apply": [{"entity": "contacts", "action": "stock"}]},
        {"apply": "many"},
        {"rate": -1},
        {"bogus": 1},
    ):
        resp = await sim.client.post("/_sim/changes", json=body)
        assert resp.status == 400, body
        assert "error" in await resp.json()
