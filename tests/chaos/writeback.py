"""Write-back commands sent while the chaos runs, then their outcomes judged.

A background thread sends a bounded stream of commands, seeded by the scenario's seed,
through `POST /api/tds/outbound` (the bearer token), one every `interval_s`, so they meet
the faults: kill -9 of the writer (and of web, which takes them), Kafka and PostgreSQL
restarts, Zoho's 429 storms, 5xx bursts and token throttling. The mix, shuffled per round:
creates of a sales order, a contact and an item (each with its erp_ref), a sales-order
update without base_version, a contact update with the record's current base_version, an
item update with a stale one, a sales-order void, a sales-order delete and a stock
adjustment. Right before the writer's kill, a burst of creates goes in one request, so
the kill meets commands at work. A request the API did not answer with 202 (web killed,
Kafka down: 503) is sent again, same command_id and content, as the API asks.

`settle` waits (bounded) until every command is final or dead-lettered, sending the dead
letters back as the scenario does for the others; `judge` fetches what
`tests.chaos.writejudge` needs and judges.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from urllib.error import HTTPError, URLError

import asyncpg

from consumers.outbound.mapping import TARGETS, reference_of
from schemas.outbound import validate_command
from tests.chaos.writejudge import FINAL, PATHS, TABLES, ReadModels, Sent, Truth, account
from tests.support.pipeline import TOKEN, System, http

STALE = "2020-01-01T00:00:00+0000"  # older than any record: such an update must conflict
# Sent in one request right before the writer is killed, so the kill meets them at work;
# creates, whose unknown outcome the writer must look up rather than send again.
BURST = ("create_salesorder", "create_contact", "create_item", "adjust_stock") * 2
KINDS = ("create_salesorder", "create_contact", "create_item", "update_salesorder",
         "update_contact", "update_item_stale", "void_salesorder", "delete_salesorder",
         "adjust_stock")


class WriteBack:
    """The commands of one chaos run: send them, wait for their outcomes, judge them."""

    def __init__(self, system: System, dsn: str, seed: int, limit: int,
                 interval_s: float) -> None:
        self.system, self.dsn, self.seed = system, dsn, seed
        self.limit, self.interval_s = limit, interval_s
        self.rng = random.Random(f"{seed}:writeback")  # apart: the fault plan stays as it was
        self.sent: list[Sent] = []
        self.errors: list[str] = []
        self._used: set[str] = set()  # records one command changes: no other touches them
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the sender thread and a burst share the builders
        self._thread: threading.Thread | None = None

    # -- sending --------------------------------------------------------------------------

    def start(self) -> None:
        """Send in the background until `stop` or the limit."""
        self._thread = threading.Thread(target=self._run, name="chaos-writeback", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """No more new commands (one in flight finishes: a request is bounded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def _run(self) -> None:
        kinds: list[str] = []
        try:
            while len(self.sent) < self.limit and not self._stop.wait(self.interval_s):
                with self._lock:
                    self._resend()
                    if not kinds:
                        kinds = list(KINDS)
                        self.rng.shuffle(kinds)
                    sent = BUILDERS[kinds.pop()](self, len(self.sent))
                    if sent is not None:
                        self.sent.append(sent)
                        self._post([sent])
        except Exception:  # a harness bug must fail the run, not end the thread unseen
            self.errors.append(traceback.format_exc(limit=3)[-600:])

    def burst(self) -> int:
        """Send BURST's commands in one request (a kill of the writer follows); how many
        the API took."""
        with self._lock:
            batch: list[Sent] = []
            for kind in BURST:
                sent = BUILDERS[kind](self, len(self.sent))  # its n: the erp_ref's
                if sent is not None:
                    self.sent.append(sent)
                    batch.append(sent)
            if batch:
                self._post(batch)
            return sum(s.accepted for s in batch)

    def _resend(self) -> None:
        for sent in self.sent:
            if not sent.accepted:
                self._post([sent])

    def _post(self, batch: list[Sent]) -> None:
        for sent in batch:
            sent.tries += 1
        try:
            answer = http("POST", f"{self.system.web_url}/api/tds/outbound",
                          [s.body for s in batch], TOKEN, timeout_s=15)
        except HTTPError as exc:
            error = f"HTTP {exc.code} {exc.read()[:300]!r}"
        except (URLError, OSError, ValueError) as exc:
            error = repr(exc)[:300]
        else:
            taken = {c["command_id"] for c in answer["commands"]}
            for sent in batch:
                sent.accepted, sent.error = sent.command_id in taken, ""
            return
        for sent in batch:
            sent.error = error

    # -- building -------------------------------------------------------------------------

    def _truth(self, path: str) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = http(
            "GET", f"{self.system.sim_url}/_sim/state/{path}")["records"]
        return records

    def pick(self, path: str, fits: Callable[[dict[str, Any]], bool] = lambda r: True,
              *, own: bool = False) -> tuple[str, dict[str, Any]] | None:
        """A live record (one no other command changes, when `own`), or None."""
        records = self._truth(path)
        ids = sorted(i for i, r in records.items() if fits(r) and i not in self._used)
        if not ids:
            return None
        chosen = self.rng.choice(ids)
        if own:
            self._used.add(chosen)
        return chosen, records[chosen]

    def command(self, kind: str, entity_type: str, operation: str, expect: tuple[str, ...],
                **values: Any) -> Sent:
        """A command of this org; a create learns the reference its record is found by."""
        body = {"command_id": str(uuid.uuid4()), "org_id": self.system.org,
                "entity_type": entity_type, "operation": operation, "requested_by": "chaos",
                **values}
        sent = Sent(kind, body, expect)
        if operation == "create":
            command = validate_command({**body, "requested_at": datetime.now(UTC)})
            sent.reference = reference_of(command)
            sent.reference_field = TARGETS[entity_type].reference
        return sent

    def ref(self, n: int) -> str:
        """An erp_ref unique to this run's org."""
        return f"CHAOS-{self.seed}-{n}"

    # -- after the faults -----------------------------------------------------------------

    def settle(self, deadline: float, retry_dead: Callable[[], None]) -> float:
        """Wait until every command is final or dead-lettered (resending those the API
        never took, sending dead letters back); the seconds it took."""
        began = time.monotonic()
        while True:
            self._resend()
            retry_dead()
            rows = asyncio.run(self.rows())
            open_ = [s for s in self.sent
                     if rows.get(s.command_id, {}).get("status") not in (*FINAL, "dead")]
            if not open_ or time.monotonic() >= deadline:
                return round(time.monotonic() - began, 1)
            time.sleep(2)

    async def rows(self) -> dict[str, dict[str, Any]]:
        try:
            conn = await asyncpg.connect(self.dsn, timeout=10)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return {}
        try:
            found = await conn.fetch(
                "SELECT command_id, status, attempts, zoho_id, zoho_version, http_status, "
                "zoho_code, message FROM outbound_commands WHERE command_id = ANY($1::text[])",
                [s.command_id for s in self.sent])
        finally:
            await conn.close()
        return {r["command_id"]: dict(r) for r in found}

    def own_writes(self, given_up: list[dict[str, Any]]) -> set[int]:
        """The change_seq of each webhook Zoho gave up that announced a command's own
        write: the writer feeds that record back itself, so its loss is never excused."""
        rows = asyncio.run(self.rows())
        written = {(r["zoho_id"], r["zoho_version"]) for r in rows.values()
                   if r["status"] == "applied"}
        deleted = {s.body.get("entity_id") for s in self.sent if s.body["operation"] == "delete"
                   and rows.get(s.command_id, {}).get("status") == "applied"}
        own = set()
        for seq in sorted({int(g["change_seq"]) for g in given_up}):
            found = http("GET", f"{self.system.sim_url}/_sim/changes?since={seq - 1}&limit=1")
            change = next(iter(found["changes"]), None)
            if change is None or change["seq"] != seq:
                continue  # out of the change log: excused, as before
            if (change["id"], change["last_modified_time"]) in written or (
                    change["action"] == "deleted" and change["id"] in deleted):
                own.add(seq)
        return own

    def judge(self) -> dict[str, Any]:
        """The write-back part of the report (`tests.chaos.writejudge.account`)."""
        sim = self.system.sim_url
        truth: Truth = {path: http("GET", f"{sim}/_sim/state/{path}")
                        for path in set(PATHS.values()) - {"inventoryadjustments"}}
        truth["inventoryadjustments"] = http("GET", f"{sim}/_sim/adjustments")
        rows = asyncio.run(self.rows())
        result = account(self.sent, rows, truth, asyncio.run(self._read_models()),
                         self.errors)
        result["attempts_over_one"] = sum(1 for r in rows.values() if r["attempts"] > 1)
        return result

    async def _read_models(self) -> ReadModels:
        conn = await asyncpg.connect(self.dsn, timeout=10)
        try:
            return {table: {r[0]: r[1] for r in await conn.fetch(
                f"SELECT {column}, version_modified_at FROM {table} WHERE org_id = $1",
                self.system.org)} for table, column in TABLES.values()}
        finally:
            await conn.close()


# -- the mix ------------------------------------------------------------------------------

def _create_salesorder(w: WriteBack, n: int) -> Sent | None:
    customer = w.pick("contacts", lambda r: r.get("contact_type") == "customer")
    item = w.pick("items")
    if customer is None or item is None:
        return None
    sent = w.command("create salesorder", "salesorder", "create", ("applied",), erp_ref=w.ref(n),
                     fields={"customer_id": customer[0], "date": date.today().isoformat(),
                             "line_items": [{"item_id": item[0],
                                             "quantity": w.rng.randint(1, 9)}]})
    sent.needs = (("contacts", customer[0]), ("items", item[0]))
    return sent


def _create_contact(w: WriteBack, n: int) -> Sent:
    # A contact is found by its name (Zoho has no free reference field for it).
    return w.command("create contact", "contact", "create", ("applied",), erp_ref=w.ref(n),
                     fields={"contact_name": f"Chaos {w.ref(n)}", "contact_type": "customer"})


def _create_item(w: WriteBack, n: int) -> Sent:
    return w.command("create item", "item", "create", ("applied",), erp_ref=w.ref(n),
                     fields={"name": f"Chaos item {w.ref(n)}", "rate": w.rng.randint(1, 99)})


def _update(w: WriteBack, n: int, kind: str, path: str, field: str, value: str,
            base: str | None) -> Sent | None:
    """An update of a field the simulator's own changes never touch and the read model
    keeps (`streams.entities`): a change of a field it drops moves no row, by the
    version rule, so the read-model check could not see it."""
    target = w.pick(path, own=True)
    if target is None:
        return None
    entity_type = {v: k for k, v in PATHS.items()}[path]
    extra = {} if base is None else {"base_version": target[1]["last_modified_time"]
                                     if base == "current" else base}
    # A current base_version conflicts only if the simulator changed the record meanwhile.
    expect = ("applied",) if base is None else ("conflict",) if base == STALE \
        else ("applied", "conflict")
    sent = w.command(kind, entity_type, "update", expect, entity_id=target[0],
                     fields={field: value}, **extra)
    sent.needs, sent.sets = ((path, target[0]),), (field, value)
    return sent


def _void_salesorder(w: WriteBack, n: int) -> Sent | None:
    # Only a write-back voids a sales order here: the simulator's changes never do.
    target = w.pick("salesorders", lambda r: r.get("status") != "void", own=True)
    if target is None:
        return None
    sent = w.command("void salesorder", "salesorder", "void", ("applied",), entity_id=target[0])
    sent.needs, sent.sets = (("salesorders", target[0]),), ("status", "void")
    return sent


def _delete_salesorder(w: WriteBack, n: int) -> Sent | None:
    target = w.pick("salesorders", own=True)
    if target is None:
        return None
    sent = w.command("delete salesorder", "salesorder", "delete", ("applied",),
                     entity_id=target[0])
    sent.needs = (("salesorders", target[0]),)
    return sent


def _adjust_stock(w: WriteBack, n: int) -> Sent | None:
    item = w.pick("items")
    if item is None:
        return None
    line: dict[str, Any] = {"item_id": item[0], "quantity_adjusted": w.rng.randint(1, 20)}
    places = item[1].get("locations") or item[1].get("warehouses") or []
    if places:  # else the first location (the simulator's default)
        key = "location_id" if "location_id" in places[0] else "warehouse_id"
        line[key] = places[0][key]
    sent = w.command("adjust stock", "inventoryadjustment", "create", ("applied",),
                     erp_ref=w.ref(n), fields={"adjustment_type": "quantity",
                                               "date": date.today().isoformat(),
                                               "reason": "chaos stock count",
                                               "line_items": [line]})
    sent.needs = (("items", item[0]),)
    return sent


BUILDERS: dict[str, Callable[[WriteBack, int], Sent | None]] = {
    "create_salesorder": _create_salesorder,
    "create_contact": _create_contact,
    "create_item": _create_item,
    "update_salesorder": lambda w, n: _update(
        w, n, "update salesorder", "salesorders", "shipment_date",
        f"2031-{w.rng.randint(1, 12):02d}-{w.rng.randint(1, 28):02d}", None),
    "update_contact": lambda w, n: _update(w, n, "update contact (current base_version)",
                                           "contacts", "email",
                                           f"{w.ref(n).lower()}@chaos.example", "current"),
    "update_item_stale": lambda w, n: _update(w, n, "update item (stale base_version)",
                                              "items", "name", f"Chaos item {w.ref(n)}", STALE),
    "void_salesorder": _void_salesorder,
    "delete_salesorder": _delete_salesorder,
    "adjust_stock": _adjust_stock,
}
