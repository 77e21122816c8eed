"""Break what the chaos verdicts judge, behind the system's back, and check each trips.

Run after the verdicts, on the same system: each defect is made directly (rows deleted,
inserted or altered in PostgreSQL, an event applied twice in the audit log, a dead letter
no fault explains, a process killed without the scenario recording it, a write-back's
create doubled in Zoho or its outcome forgotten), on its own record, and the check that
guards it must count it. A check no sabotage can trip is a
defect of the harness.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from projections.catalog import MODELS
from projections.items import STOCK
from projections.sql import q
from tests.chaos.faults import children
from tests.support.pipeline import http
from tests.support.truth import compare

if TYPE_CHECKING:
    from tests.chaos.scenario import Scenario

# (check, table, problem it must raise)
DATA = (("delete a row", "items", "lost"),
        ("insert a row Zoho never had", "contacts", "extra"),
        ("put an older version back", "sales_orders", "stale"),
        ("alter a typed column", "items", "wrong_value"),
        ("delete or add a child row (a line, an application)", "", "wrong_value"),
        ("claim a time Zoho never reached", "bills", "newer_than_zoho"),
        ("apply an event twice", "audit_log", "duplicates"))
# (check, write-back count it must raise)
WRITEBACK = (("a write-back create doubled in Zoho", "duplicates"),
             ("an applied write-back missing from its read model", "not_in_read_models"),
             ("a write-back command's outcome forgotten", "no_outcome"))


class Sabotage:
    """Each defect, then the verdict that must catch it."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.dsn = scenario.services.database_url
        self.org = scenario.system.org

    def run(self) -> dict[str, dict[str, Any]]:
        """{check: {"caught": bool, "detail": ...}} for every sabotage."""
        before = asyncio.run(compare(self.dsn, self.scenario.system.sim_url, self.org))
        lined = asyncio.run(self._break_rows())
        after = asyncio.run(compare(self.dsn, self.scenario.system.sim_url, self.org))
        out: dict[str, dict[str, Any]] = {}
        for check, table, problem in DATA:
            table = table or lined
            if not table:
                out[check] = {"caught": False, "detail": "no child row to delete"}
                continue
            grew = after[table][problem] - before[table][problem]
            out[check] = {"caught": grew > 0, "detail": f"{table}.{problem} +{grew}"}
        out.update(asyncio.run(self._dead_letters()))
        out["kill a process unrecorded"] = self._kill_unrecorded()
        out.update(self._writeback())
        return out

    def _writeback(self) -> dict[str, dict[str, Any]]:
        """Behind the system's back: a second sales order in Zoho with an applied create's
        reference, another applied create's read-model row deleted, and a command's row
        deleted from outbound_commands. The write-back judgement must count each."""
        writeback = self.scenario.writeback
        if writeback is None:
            return {}
        before = writeback.judge()
        rows = asyncio.run(writeback.rows())
        sim = self.scenario.system.sim_url
        live = http("GET", f"{sim}/_sim/state/salesorders")["records"]
        applied = [s for s in writeback.sent if s.kind == "create salesorder"
                   and rows.get(s.command_id, {}).get("zoho_id") in live]
        others = [s for s in writeback.sent if s not in applied[:2] and s.command_id in rows]
        if len(applied) < 2 or not others:
            missing = {"caught": False, "detail": f"{len(applied)} applied sales-order creates"}
            return {check: missing for check, _ in WRITEBACK}
        twin = http("POST", f"{sim}/_sim/changes", {"apply": [
            {"entity": "salesorders", "action": "created", "webhook": False}]})["applied"][0]
        http("POST", f"{sim}/_sim/changes", {"apply": [
            {"entity": "salesorders", "action": "edited", "id": twin["id"], "webhook": False,
             "fields": {"reference_number": applied[0].reference}}]})
        asyncio.run(self._forget(rows[applied[1].command_id]["zoho_id"],
                                 others[-1].command_id))
        after = writeback.judge()
        return {check: {"caught": after[count] > before[count],
                        "detail": f"{count} {before[count]} → {after[count]}"}
                for check, count in WRITEBACK}

    async def _forget(self, order_id: str, command_id: str) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=10)
        try:
            await conn.execute("DELETE FROM sales_orders WHERE org_id = $1 AND "
                               "salesorder_id = $2", self.org, order_id)
            await conn.execute("DELETE FROM outbound_commands WHERE command_id = $1",
                               command_id)
        finally:
            await conn.close()

    async def _break_rows(self) -> str:
        """Make every defect of DATA; return the table whose child row went."""
        conn = await asyncpg.connect(self.dsn, timeout=10)
        try:
            org = self.org
            await conn.execute("DELETE FROM items WHERE org_id = $1 AND item_id = "
                               "(SELECT min(item_id) FROM items WHERE org_id = $1)", org)
            await _copy_row(conn, "contacts", "contact_id", org, "sabotage-extra")
            await conn.execute(
                "UPDATE sales_orders SET version_modified_at = version_modified_at - "
                "interval '1 day', raw = raw || '{\"reference_number\": \"an older one\"}', "
                "reference_number = 'an older one' WHERE org_id = $1 AND salesorder_id = "
                "(SELECT min(salesorder_id) FROM sales_orders WHERE org_id = $1)", org)
            lined = await _delete_a_child_row(conn, org)
            await conn.execute(
                "UPDATE items SET rate = coalesce(rate, 0) + 1 WHERE org_id = $1 AND item_id = "
                "(SELECT max(item_id) FROM items WHERE org_id = $1)", org)
            await conn.execute(
                "UPDATE bills SET version_modified_at = version_modified_at + interval '1 day'"
                " WHERE org_id = $1 AND bill_id = (SELECT min(bill_id) FROM bills "
                "WHERE org_id = $1)", org)
            await conn.execute(
                "INSERT INTO audit_log (consumer_group, topic, kafka_partition, kafka_offset, "
                "table_name, action, org_id, entity_type, entity_id, event_id, "
                "version_modified_at, version_offset, content_hash, source, sync_run_id) "
                "SELECT consumer_group, topic, kafka_partition, kafka_offset, table_name, "
                "action, org_id, entity_type, entity_id, event_id, version_modified_at, "
                "version_offset, content_hash, source, sync_run_id FROM audit_log "
                "WHERE org_id = $1 AND action <> 'delete' ORDER BY id LIMIT 1", org)
        finally:
            await conn.close()
        return lined

    async def _dead_letters(self) -> dict[str, dict[str, Any]]:
        """A dead letter of a class no fault causes, and one of a class the faults cause
        but outside every fault's window: both must be unexplained."""
        conn = await asyncpg.connect(self.dsn, timeout=10)
        now = datetime.now(UTC)
        before_chaos = datetime.fromtimestamp(self.scenario.chaos_wall - 600, UTC)
        try:
            for n, (error_class, at) in enumerate((("KeyError", now),
                                                   ("FetchFailed", before_chaos))):
                await conn.execute(
                    "INSERT INTO dead_letters (id, dlq_topic, dlq_partition, dlq_offset, "
                    "added_at, headers, org_id, entity_type, entity_id, stage, error_class, "
                    "error_message, first_failure_at) VALUES ($1, 'tds.deadletter', 0, $2, "
                    "$3, '{}', $4, 'item', 'sabotage', 'streams', $5, 'sabotage', $3)",
                    f"sabotage-{n}", 10**12 + n, at, self.org, error_class)
        finally:
            await conn.close()
        letters = await self.scenario.dead_letter_rows()
        out = {}
        for n, check in enumerate(("a dead letter no fault causes",
                                   "a dead letter outside every fault window")):
            found = [d for d in letters if d["id"] == f"sabotage-{n}"]
            out[check] = {"caught": bool(found) and not found[0]["explained"],
                          "detail": found[0]["why"] if found else "not listed"}
        return out

    def _kill_unrecorded(self) -> dict[str, Any]:
        """SIGKILL the relay without a Fault: the exit must be reported as unexplained."""
        before = len(self.scenario.unexpected_exit_lines())
        pid = children(self.scenario.system.up.pid).get("relay")
        if pid is None:
            return {"caught": False, "detail": "no relay to kill"}
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the supervisor logged the exit
            found = self.scenario.unexpected_exit_lines()
            if len(found) > before:
                return {"caught": True, "detail": found[-1]}
            time.sleep(0.5)
        return {"caught": False, "detail": "the exit was not reported"}


async def _delete_a_child_row(conn: asyncpg.Connection, org: str) -> str:
    """Delete one child row of the last record that has any, or add one to an invoice
    that has none; return the parent's table ("" when there is no invoice either)."""
    for model in (*(m for m in MODELS if m is not STOCK), STOCK):  # documents first
        for child in model.children:
            # A stock row is judged only while it is the item's own snapshot.
            own = ("" if model is not STOCK else " AND EXISTS (SELECT 1 FROM item_stock s JOIN "
                   "items i USING (org_id, item_id) WHERE s.org_id = c.org_id AND s.item_id = "
                   "c.item_id AND s.version_modified_at = i.version_modified_at AND "
                   "s.from_entity = 'item' AND "
                   "(i.raw ? 'locations' OR i.raw ? 'warehouses'))")
            parent = await conn.fetchval(
                f"SELECT max({q(model.id_column)}) FROM {q(child.table)} c "
                f"WHERE org_id = $1{own}", org)
            if parent is not None:
                await conn.execute(
                    f"DELETE FROM {q(child.table)} WHERE ctid = (SELECT ctid FROM "
                    f"{q(child.table)} WHERE org_id = $1 AND {q(model.id_column)} = $2 "
                    "LIMIT 1)", org, parent)
                return model.table
    # No record has any: give the last invoice a line its record does not have.
    invoice = await conn.fetchval("SELECT max(invoice_id) FROM invoices WHERE org_id = $1", org)
    if invoice is None:
        return ""
    await conn.execute("INSERT INTO invoice_lines (org_id, invoice_id, line_no, name) VALUES "
                       "($1, $2, 1, 'a line Zoho never had')", org, invoice)
    return "invoices"


async def _copy_row(conn: asyncpg.Connection, table: str, id_column: str, org: str,
                    new_id: str) -> None:
    row = await conn.fetchrow(f"SELECT * FROM {q(table)} WHERE org_id = $1 LIMIT 1", org)
    assert row is not None, f"no {table} row to copy"
    values = {**dict(row), id_column: new_id}
    names = ", ".join(q(c) for c in values)
    marks = ", ".join(f"${n}" for n in range(1, len(values) + 1))
    await conn.execute(f"INSERT INTO {q(table)} ({names}) VALUES ({marks})", *values.values())
