"""Books v3 and Inventory v1 write endpoints: create, update, delete, status actions and
inventory adjustments. Each write changes the ground truth, is logged by the change engine
and fires the workflow webhooks (with the dispatcher's faults); the API middleware counts
it against the same quotas as reads.
"""

from __future__ import annotations

import random

from aiohttp import web

from simulator.api import PREFIXES, Handler, not_found
from simulator.entities import ENTITIES, EntitySpec
from simulator.errors import invalid_value
from simulator.factories import Factory
from simulator.masters import set_image, sync_stock
from simulator.respond import zoho_json
from simulator.state import STATE, SimState
from simulator.store import Record
from simulator.writefields import Body, Writer, parse_body

WRITABLE = ("items", "contacts", "salesorders", "invoices", "customerpayments")
# Messages as Zoho words them in its docs' examples.
CREATED = {
    "items": "The item has been added.",
    "contacts": "The contact has been added.",
    "salesorders": "Sales Order has been created.",
    "invoices": "The invoice has been created.",
    "customerpayments": "The payment has been recorded.",
}
# (entity, URL status) -> (new status, message). Books marks a sales order `open`,
# Inventory `confirmed` (facts 7b).
ACTIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("salesorders", "open"): ("open", "Sales Order status has been changed to Open."),
    ("salesorders", "confirmed"): ("confirmed", "Sales Order has been confirmed."),
    ("salesorders", "void"): ("void", "Sales Order status has been changed to Void."),
    ("invoices", "sent"): ("sent", "Invoice status has been changed to Sent."),
    ("invoices", "void"): ("void", "Invoice status has been changed to Void."),
    ("invoices", "draft"): ("draft", "Status of invoice changed from void to draft."),
}


async def read_body(request: web.Request) -> Body:
    """The request's JSON object (JSON body or legacy JSONString form), or Zoho's 1038."""
    raw = await request.read()
    form = await request.post() if request.content_type.endswith("urlencoded") else {}
    return parse_body(raw, request.content_type, {k: str(v) for k, v in form.items()})


def _created_status(request: web.Request, path: str) -> int:
    # The Inventory items copy answers a create with 200; every other create is 201.
    return 200 if path == "items" and request.path.startswith("/inventory/") else 201


def _action_status(request: web.Request, path: str) -> int:
    # The Books copy answers its sales order actions with 201; Inventory's, and invoices', 200.
    return 201 if path == "salesorders" and request.path.startswith("/books/") else 200


def _live(state: SimState, spec: EntitySpec, record_id: str) -> Record:
    rec = state.store.table(spec.path).records.get(record_id)
    if rec is None:
        raise not_found(spec)
    return rec


def _blank(state: SimState, factory: Factory, path: str) -> Record:
    """A new record with the factory's defaults, cleared of what a fresh Zoho record lacks."""
    now = int(state.clock.now())
    rec = factory.make(path, state.store.table(path).next_seq, now, now)
    if path == "items":
        rec.stock = [[0.0, 0.0, 0.0] for _ in state.store.sites]  # stock comes by adjustment
        rec.data.update(sku="", description="", brand="", status="active", reorder_level=0.0)
        set_image(state.store, rec, None)
        sync_stock(rec)
    elif path in ("salesorders", "invoices"):
        rec.data["status"] = "draft"
        rec.hidden["paid_share"] = 0.0
        rec.data["reference_number"] = ""
        if path == "salesorders":
            rec.data.update(order_status="draft", invoiced_status="not_invoiced",
                            paid_status="unpaid", shipped_status="pending", quantity_invoiced=0.0,
                            quantity_packed=0.0, quantity_shipped=0.0)
    elif path == "contacts":  # Zoho's default type; nothing owed yet
        rec.data.update(contact_type="customer", outstanding_receivable_amount=0.0,
                        outstanding_receivable_amount_bcy=0.0, outstanding_payable_amount=0.0,
                        phone="", status="active")
    elif path == "customerpayments":  # applied to the invoices the body names, if any
        rec.refs = []
        rec.data.update(reference_number="", description="", invoice_numbers="",
                        invoice_number="")
    return rec


def create_handler(path: str) -> Handler:
    """POST /{entity}: check, build the record, answer it under the singular key."""
    spec = ENTITIES[path]

    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        body = await read_body(request)
        writer = Writer(state.store)
        writer.check_required(path, body, creating=True)
        rec = _blank(state, request.app[WRITES_FACTORY], path)
        writer.apply(path, rec, body)
        state.changes.write(path, rec, "created")
        full = state.renderer.full(path, rec)
        return zoho_json(request, {"code": 0, "message": CREATED[path], spec.single_key: full},
                         _created_status(request, path))

    return handle


def update_handler(path: str) -> Handler:
    """PUT /{entity}/{id}: change the fields given, answer the whole record."""
    spec = ENTITIES[path]

    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        rec = _live(state, spec, request.match_info["record_id"])
        body = await read_body(request)
        writer = Writer(state.store)
        writer.check_required(path, body, creating=False)
        writer.apply(path, rec, body)
        state.changes.write(path, rec, "edited")
        message = f"{spec.label} information has been updated."
        full = state.renderer.full(path, rec)
        return zoho_json(request, {"code": 0, "message": message, spec.single_key: full})

    return handle


def delete_handler(path: str) -> Handler:
    """DELETE /{entity}/{id}."""
    spec = ENTITIES[path]

    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        rec = _live(state, spec, request.match_info["record_id"])
        state.changes.write(path, rec, "deleted")
        message = f"The {spec.label.lower()} has been deleted."
        return zoho_json(request, {"code": 0, "message": message})

    return handle


def action_handler(path: str, action: str) -> Handler:
    """POST /{entity}/{id}/status/{action}: move the record to the action's status."""
    spec = ENTITIES[path]
    status, message = ACTIONS[(path, action)]

    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        rec = _live(state, spec, request.match_info["record_id"])
        current = rec.data["status"]
        # Zoho's refusals for impossible moves are not in the facts: we refuse the obvious
        # ones (a void record can only go back to draft) with code 2 on the status.
        if current == status or (current == "void" and status != "draft"):
            raise invalid_value("status")
        if status == "draft" and current != "void":
            raise invalid_value("status")
        rec.data["status"] = status
        if path == "salesorders":
            rec.data["order_status"] = status
        if path == "invoices" and status == "void":
            rec.hidden["paid_share"] = 1.0  # nothing is owed on a void invoice
        state.changes.write(path, rec, "edited")
        return zoho_json(request, {"code": 0, "message": message},
                         _action_status(request, path))

    return handle


WRITES_FACTORY = web.AppKey("simulator_writes_factory", Factory)


def add_routes(app: web.Application) -> None:
    """Register the write routes under both prefixes."""
    state = app[STATE]
    app[WRITES_FACTORY] = Factory(state.store, random.Random(f"{state.store.seed}:writes"))
    for prefix in PREFIXES:
        router = app.router
        for path in WRITABLE:
            router.add_post(f"{prefix}/{path}", create_handler(path))
            router.add_put(f"{prefix}/{path}/{{record_id}}", update_handler(path))
            router.add_delete(f"{prefix}/{path}/{{record_id}}", delete_handler(path))
        for path, action in ACTIONS:
            router.add_post(f"{prefix}/{path}/{{record_id}}/status/{action}",
                            action_handler(path, action))
