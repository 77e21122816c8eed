"""`tds writer` against the simulator, real Kafka and PostgreSQL: applied, conflict,
rejected, and exactly one effect in Zoho per command whatever kills the writer."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from datetime import date

from confluent_kafka import Consumer

from schemas.codec import default_codec
from schemas.events import RawEvent, decode_event
from schemas.outbound import OutboundResult
from tests.integration.outbound.conftest import WriteRig, customer_and_items
from tests.support.pipeline import http

# The issue asks for 1,000; on this shared 2-core box each kill costs a group rebalance
# (the session timeout), so the default is smaller: TDS_WRITEBACK_KILL_COMMANDS=1000.
COMMANDS = int(os.environ.get("TDS_WRITEBACK_KILL_COMMANDS", "400"))
KILLS = 5  # each costs a rebalance (the session timeout, ~25 s here): bounded


def _read_all(bootstrap: str, topic: str, expect: int, timeout_s: float = 30) -> list[
        tuple[bytes, dict[str, bytes]]]:
    """Every message's value and headers on `topic` (waits for `expect` of them)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{time.time()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    out: list[tuple[bytes, dict[str, bytes]]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expect and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            out.append((message.value() or b"", dict(message.headers() or [])))
    finally:
        consumer.close()
    return out


async def test_create_conflict_reject(rig: WriteRig, kafka_bootstrap: str) -> None:
    customer, items = customer_and_items(rig)
    rig.start_writer()
    create = rig.command(entity_type="salesorder", operation="create", erp_ref="ERP-SO-1",
                         fields={"customer_id": customer, "date": date.today().isoformat(),
                                 "line_items": [{"item_id": items[0], "quantity": 2}]})
    await rig.send(create)
    row = (await rig.wait_final([create.command_id]))[create.command_id]
    assert row["status"] == "applied", dict(row)
    order_id = row["zoho_id"]
    truth = rig.truth("salesorders")
    assert truth[order_id]["reference_number"] == "ERP-SO-1"
    assert truth[order_id]["customer_id"] == customer
    version = truth[order_id]["last_modified_time"]
    assert row["zoho_version"] == version

    # The ERP saw an older version: TDS does not overwrite, Zoho keeps its record.
    stale = rig.command(entity_type="salesorder", operation="update", entity_id=order_id,
                        base_version="2020-01-01T00:00:00+0000",
                        fields={"salesperson_name": "Stale Writer"})
    # A field Zoho refuses: rejected with Zoho's own code and message, never retried.
    invalid = rig.command(entity_type="salesorder", operation="update", entity_id=order_id,
                          fields={"date": "13/11/2025"})
    fresh = rig.command(entity_type="salesorder", operation="update", entity_id=order_id,
                        base_version=version, fields={"salesperson_name": "Fresh Writer"})
    await rig.send(stale, invalid, fresh)
    rows = await rig.wait_final([stale.command_id, invalid.command_id, fresh.command_id])
    assert rows[stale.command_id]["status"] == "conflict"
    assert rows[stale.command_id]["current_version"] == version
    assert rows[invalid.command_id]["status"] == "rejected"
    assert rows[invalid.command_id]["zoho_code"] == 2
    assert rows[invalid.command_id]["message"] == "Invalid value passed for date"
    assert rows[invalid.command_id]["attempts"] == 1
    assert rows[fresh.command_id]["status"] == "applied"
    assert rig.truth("salesorders")[order_id]["salesperson_name"] == "Fresh Writer"

    # A status action, then a delete: each applied, Zoho's truth follows.
    confirm = rig.command(entity_type="salesorder", operation="confirm", entity_id=order_id)
    await rig.send(confirm)
    row = (await rig.wait_final([confirm.command_id]))[confirm.command_id]
    assert row["status"] == "applied", dict(row)
    assert rig.truth("salesorders")[order_id]["status"] == "confirmed"
    assert row["zoho_version"] == rig.truth("salesorders")[order_id]["last_modified_time"]
    delete = rig.command(entity_type="salesorder", operation="delete", entity_id=order_id)
    await rig.send(delete)
    assert (await rig.wait_final([delete.command_id]))[delete.command_id]["status"] == "applied"
    assert order_id not in rig.truth("salesorders")

    results = [decode_event(v, codec=default_codec()) for v, _ in
               _read_all(kafka_bootstrap, rig.topics["results"], 6)]
    by_command = {r.command_id: r for r in results if isinstance(r, OutboundResult)}
    assert by_command[create.command_id].entity_id == order_id
    assert by_command[stale.command_id].status == "conflict"
    assert by_command[stale.command_id].zoho_version == version
    assert by_command[stale.command_id].base_version == "2020-01-01T00:00:00+0000"
    assert by_command[invalid.command_id].zoho_code == 2
    # The written records went back into the raw topic, marked as the ERP's.
    raws = _read_all(kafka_bootstrap, rig.topics["raw"], 4)
    marked = {h["tds_command_id"].decode() for _, h in raws if h.get("tds_origin") == b"erp"}
    assert {create.command_id, fresh.command_id} <= marked
    events = [decode_event(v, codec=default_codec()) for v, _ in raws]
    assert all(isinstance(e, RawEvent) and e.attributes["origin"] == "erp" for e in events)
    assert [e.event_kind for e in events if isinstance(e, RawEvent)] == [
        "created", "edited", "edited", "deleted"]


async def test_unknown_outcome_is_looked_up(rig: WriteRig) -> None:
    """A create recorded as sent with no outcome (the writer died after Zoho's answer) is
    found in Zoho by its reference, not created again."""
    customer, items = customer_and_items(rig)
    rig.start_writer()
    create = rig.command(entity_type="salesorder", operation="create", erp_ref="ERP-SO-2",
                         fields={"customer_id": customer,
                                 "line_items": [{"item_id": items[1]}]})
    await rig.send(create)
    first = (await rig.wait_final([create.command_id]))[create.command_id]
    # Behind the writer's back: forget the outcome, as a kill after the call would.
    await rig.pool.execute("UPDATE outbound_commands SET status = 'sending', zoho_id = NULL "
                           "WHERE command_id = $1", create.command_id)
    await rig.send(create)  # redelivered
    again = (await rig.wait_final([create.command_id]))[create.command_id]
    assert again["zoho_id"] == first["zoho_id"]
    assert again["attempts"] == 1  # nothing more was sent
    refs = Counter(r["reference_number"] for r in rig.truth("salesorders").values())
    assert refs["ERP-SO-2"] == 1


async def test_kill_9_exactly_once(rig: WriteRig) -> None:
    """SIGKILL the writer at random moments while it works through a batch of creates:
    Zoho holds each command's effect exactly once (counted in the simulator's truth)."""
    customer, items = customer_and_items(rig, 5)
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    count = COMMANDS
    creates = [rig.command(entity_type="salesorder", operation="create",
                           erp_ref=f"KILL-{seed}-{n}",
                           fields={"customer_id": customer,
                                   "line_items": [{"item_id": rng.choice(items),
                                                   "quantity": rng.randint(1, 9)}]})
               for n in range(count)]
    await rig.send(*creates)
    ids = [c.command_id for c in creates]
    # Zoho answers in 100 ms, so the writer spends its time between intent and outcome
    # (4 calls in flight) and a kill lands there, as it would against the real API.
    http("POST", f"{rig.sim}/_sim/faults", {"latency_ms": 100})
    unknown: set[str] = set()  # commands a kill left between intent and outcome
    deadline = time.monotonic() + 300
    applied = 0
    while applied < count and rig.killed < KILLS and time.monotonic() < deadline:
        rig.start_writer()
        # Kill only once the writer is at work, at a random moment of it.
        before = applied
        while applied == before and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            applied = await _applied(rig, ids)
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        rig.kill_writer()
        unknown |= {r["command_id"] for r in await rig.pool.fetch(
            "SELECT command_id FROM outbound_commands WHERE status = 'sending' "
            "AND command_id = ANY($1::text[])", ids)}
        applied = await _applied(rig, ids)
    rig.start_writer()
    rows = await rig.wait_final(ids, timeout_s=120)
    assert all(r["status"] == "applied" for r in rows.values()), seed
    refs = Counter(r["reference_number"] for r in rig.truth("salesorders").values())
    mine = {c.erp_ref: refs[c.erp_ref or ""] for c in creates}
    duplicated = {ref: n for ref, n in mine.items() if n != 1}
    assert not duplicated, (f"seed {seed}: {len(duplicated)} commands without exactly one "
                            f"effect after {rig.killed} kills: {list(duplicated.items())[:5]}")
    assert rig.killed >= 3 and unknown, (rig.killed, len(unknown))
    print(f"kill -9 run: seed {seed}, {count} commands, {rig.killed} kills, {len(unknown)} left "
          f"with an unknown outcome and resolved, 0 duplicates")


async def _applied(rig: WriteRig, ids: list[str]) -> int:
    found: int = await rig.pool.fetchval(
        "SELECT count(*) FROM outbound_commands WHERE status = 'applied' "
        "AND command_id = ANY($1::text[])", ids)
    return found


async def test_zoho_errors_go_through_the_retry_chain(rig: WriteRig,
                                                      kafka_bootstrap: str) -> None:
    """5xx from Zoho: the command waits in the retry chain (outcome unknown), comes back
    through the relay, is looked up, sent and applied once; when Zoho keeps failing it ends
    in the dead letters, marked `dead`."""
    customer, items = customer_and_items(rig)
    http("POST", f"{rig.sim}/_sim/faults", {"error_rate": 1.0})
    rig.start_writer()
    create = rig.command(entity_type="salesorder", operation="create", erp_ref="RETRY-1",
                         fields={"customer_id": customer, "line_items": [{"item_id": items[0]}]})
    doomed = rig.command(entity_type="salesorder", operation="create", erp_ref="RETRY-2",
                         fields={"customer_id": customer, "line_items": [{"item_id": items[0]}]})
    await rig.send(create)
    await _wait_status(rig, create.command_id, "retrying")
    relay = rig.start_relay()
    try:
        http("POST", f"{rig.sim}/_sim/faults", {"error_rate": 0.0})
        row = (await rig.wait_final([create.command_id]))[create.command_id]
        assert row["status"] == "applied" and row["attempts"] == 2, dict(row)
        refs = Counter(r["reference_number"] for r in rig.truth("salesorders").values())
        assert refs["RETRY-1"] == 1

        http("POST", f"{rig.sim}/_sim/faults", {"error_rate": 1.0})
        await rig.send(doomed)
        await _wait_status(rig, doomed.command_id, "dead", timeout_s=60)
    finally:
        relay.terminate()
        relay.wait(timeout=30)
        http("POST", f"{rig.sim}/_sim/faults", {"error_rate": 0.0})
    dead = _read_all(kafka_bootstrap, f"{rig.retry_prefix}tds.deadletter", 1)
    assert dead and dead[0][1]["tds_deadletter_reason"] == b"exhausted"


async def _wait_status(rig: WriteRig, command_id: str, status: str,
                       timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = await rig.rows([command_id])
        if command_id in rows and rows[command_id]["status"] == status:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{command_id} never reached {status}: {await rig.rows([command_id])}")


async def test_stock_adjustment_once(rig: WriteRig, kafka_bootstrap: str) -> None:
    """An inventory adjustment moves stock once, also when its outcome was lost; the
    adjusted item is pinged on the raw topic so the read model fetches its new stock."""
    item_id, item = next((i, r) for i, r in rig.truth("items").items()
                         if r.get("status") == "active")
    location = item["locations"][0]["location_id"]
    before = float(item["stock_on_hand"])
    adjust = rig.command(entity_type="inventoryadjustment", operation="create",
                         erp_ref="COUNT-1", fields={
                             "adjustment_type": "quantity", "date": "2025-11-13",
                             "reason": "stock count", "line_items": [{
                                 "item_id": item_id, "location_id": location,
                                 "quantity_adjusted": 5}]})
    rig.start_writer()
    await rig.send(adjust)
    row = (await rig.wait_final([adjust.command_id]))[adjust.command_id]
    assert row["status"] == "applied", dict(row)
    assert float(rig.truth("items")[item_id]["stock_on_hand"]) == before + 5
    await rig.pool.execute("UPDATE outbound_commands SET status = 'sending' "
                           "WHERE command_id = $1", adjust.command_id)
    await rig.send(adjust)  # redelivered after a lost outcome
    again = (await rig.wait_final([adjust.command_id]))[adjust.command_id]
    assert again["attempts"] == 1 and again["zoho_id"] == row["zoho_id"]
    assert float(rig.truth("items")[item_id]["stock_on_hand"]) == before + 5
    pings = [decode_event(v, codec=default_codec()) for v, _ in
             _read_all(kafka_bootstrap, rig.topics["raw"], 2)]
    assert {(e.entity_type, e.entity_id) for e in pings if isinstance(e, RawEvent)} == {
        ("item", item_id)}
