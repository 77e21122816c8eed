"""What became of the chaos run's write-back commands, judged against Zoho's truth.

Pure: the caller hands in the commands sent, their `outbound_commands` rows, the
simulator's ground truth and the read models' versions (`tests.chaos.writeback` fetches
them). For each command:

- accounted: the API took it and it has an outcome (applied, rejected, conflict, or
  dead-lettered); accepted, sending or retrying at the end, or no row, is `no_outcome`;
- the outcome expected: each kind says which outcomes it may have while the records it
  needs live (a stale base_version must conflict, a fresh create must apply); a
  rejection is expected only when the simulator deleted something the command needed;
- exactly one effect in Zoho: an applied create's record is there once (found by the
  reference the writer tags creates with, `consumers.outbound.mapping.reference_of`),
  and no other live record carries its reference (`duplicates`); a create that did not
  apply left none; an applied update or void shows its value, one that did not apply
  does not; an applied delete's record is gone;
- in the read models: an applied command's record has a row at least as new as the
  version Zoho answered (a delete: no row). Never excused: the writer feeds the record
  back itself, so no webhook Zoho gave up explains a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consumers.outbound.mapping import parse_version

FINAL = ("applied", "rejected", "conflict")
OUTCOMES = (*FINAL, "dead")
# Simulator path and read-model table of each entity type a command writes.
PATHS = {"item": "items", "contact": "contacts", "salesorder": "salesorders",
         "inventoryadjustment": "inventoryadjustments"}
TABLES = {"item": ("items", "item_id"), "contact": ("contacts", "contact_id"),
          "salesorder": ("sales_orders", "salesorder_id")}
COUNTS = ("sent", "accepted", *OUTCOMES, "no_outcome", "duplicates", "missing_effects",
          "effects_without_outcome", "unexpected_outcomes", "not_in_read_models")

Truth = dict[str, dict[str, Any]]  # path → {"records": {id: record}, "deleted": [id]}
ReadModels = dict[str, dict[str, datetime]]  # table → {id: version_modified_at}


@dataclass
class Sent:
    """One command the run sent, and how its effect is judged."""

    kind: str
    body: dict[str, Any]  # as POSTed (command_id included: a resend is the same command)
    expect: tuple[str, ...]  # outcomes it may have while the records it needs live
    needs: tuple[tuple[str, str], ...] = ()  # (simulator path, id)
    reference: str | None = None  # a create: the value its record is found by
    reference_field: str = ""
    sets: tuple[str, Any] | None = None  # an update or void: the field and its value
    accepted: bool = False
    tries: int = 0
    error: str = ""

    @property
    def command_id(self) -> str:
        """The command's id."""
        return str(self.body["command_id"])


class Account:
    """The counts and the problems, built up command by command."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(COUNTS, 0)
        self.by_kind: dict[str, dict[str, int]] = {}
        self.problems: list[str] = []

    def fail(self, count: str, sent: Sent, what: str, n: int = 1) -> None:
        """Count one problem of `sent` and say it."""
        self.counts[count] += n
        self.problems.append(f"{count}: {sent.kind} {sent.command_id}: {what}")


def account(sent: list[Sent], rows: dict[str, dict[str, Any]], truth: Truth,
            read: ReadModels, sender_errors: list[str]) -> dict[str, Any]:
    """The write-back part of the chaos report (see the module docstring)."""
    book = Account()
    book.counts["sent"] = len(sent)
    if not sent:
        book.problems.append("no write-back command was sent during the chaos")
    book.problems += [f"the sender failed: {e}" for e in sender_errors]
    for one in sent:
        row = rows.get(one.command_id)
        status = row["status"] if row is not None else "none"
        kinds = book.by_kind.setdefault(one.kind, {})
        kinds[status] = kinds.get(status, 0) + 1
        if one.accepted:
            book.counts["accepted"] += 1
        if status not in OUTCOMES:
            book.fail("no_outcome", one, f"status {status} after {one.tries} sends "
                      f"{one.error}".rstrip())
            continue
        book.counts[status] += 1
        assert row is not None
        gone = [f"{p}/{i}" for p, i in one.needs if i not in truth[p]["records"]]
        if status in FINAL and status not in one.expect and not (status == "rejected" and gone):
            book.fail("unexpected_outcomes", one, f"{status} (expected {'/'.join(one.expect)})"
                      f": {row.get('http_status')} {row.get('zoho_code')} {row.get('message')}")
        _effects(book, one, row, truth)
        if status == "applied":
            _read_models(book, one, row, truth, read)
    return {**book.counts, "by_kind": book.by_kind, "problems": book.problems}


def _effects(book: Account, one: Sent, row: dict[str, Any], truth: Truth) -> None:
    """Exactly one effect in Zoho for an applied command, none for a refused one (a dead
    letter's outcome is unknown: at most one)."""
    operation, status = one.body["operation"], row["status"]
    path = PATHS[one.body["entity_type"]]
    live, deleted = truth[path]["records"], set(truth[path].get("deleted", ()))
    if operation == "create":
        holders = sorted(i for i, r in live.items()
                         if one.reference and str(r.get(one.reference_field, "")) == one.reference)
        zoho_id = row.get("zoho_id")
        if status == "applied":
            others = [i for i in holders if i != zoho_id]
            if others:
                book.fail("duplicates", one, f"{one.reference} also in {others}", len(others))
            if not zoho_id or (zoho_id not in live and zoho_id not in deleted):
                book.fail("missing_effects", one, f"Zoho never had {path}/{zoho_id}")
        elif len(holders) > (1 if status == "dead" else 0):
            book.fail("effects_without_outcome", one, f"{status}, yet {path} {holders} "
                      f"carry {one.reference}", len(holders))
        return
    entity_id = str(one.body["entity_id"])
    record = live.get(entity_id)
    if operation == "delete":
        if status == "applied" and record is not None:
            book.fail("missing_effects", one, f"{path}/{entity_id} still lives")
        return
    if record is None or one.sets is None:
        return  # the simulator deleted it since: nothing left to judge
    name, value = one.sets
    holds = record.get(name) == value
    if status == "applied" and not holds:
        book.fail("missing_effects", one, f"{path}/{entity_id}.{name} is "
                  f"{record.get(name)!r}, not {value!r}")
    elif status in ("rejected", "conflict") and holds:
        book.fail("effects_without_outcome", one, f"{status}, yet {path}/{entity_id}.{name} "
                  f"is {value!r}")


def _read_models(book: Account, one: Sent, row: dict[str, Any], truth: Truth,
                 read: ReadModels) -> None:
    """An applied command's record in its read model, at Zoho's answer or later."""
    entity_type, operation = one.body["entity_type"], one.body["operation"]
    version = parse_version(row.get("zoho_version"))
    if entity_type == "inventoryadjustment":  # it moved its items' stock: each was fetched
        wanted = [("item", str(line["item_id"])) for line in one.body["fields"]["line_items"]]
    else:
        wanted = [(entity_type, str(row.get("zoho_id") or one.body.get("entity_id")))]
    for kind, record_id in wanted:
        table, _ = TABLES[kind]
        stored = read[table].get(record_id)
        if operation == "delete":
            if stored is not None:
                book.fail("not_in_read_models", one, f"{table}/{record_id} still has a row")
        elif record_id not in truth[PATHS[kind]]["records"]:
            continue  # the simulator deleted it since: the truth comparison judges that
        elif stored is None or (version is not None and stored < version):
            book.fail("not_in_read_models", one, f"{table}/{record_id} at {stored}, Zoho "
                      f"answered {row.get('zoho_version')}")
