"""Inventory v1 `/inventoryadjustments`: stock changes by quantity or value, per location.

The facts (7b) cite Zoho's page but there is no OpenAPI copy, so the shape follows the
facts' field list; UNCONFIRMED: which fields are mandatory (we require `date`, `reason`,
`adjustment_type` and `line_items`), the value line's field name (`value_adjusted`), and
whether stock may go below zero (we refuse it with code 2 on `quantity_adjusted`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from simulator.api import INVENTORY
from simulator.clock import format_ts
from simulator.errors import ZohoError, invalid_value
from simulator.ids import ADJUSTMENT_CODE, ADJUSTMENT_LINE_CODE, aux_id
from simulator.masters import money, sync_stock
from simulator.query import MAX_PER_PAGE
from simulator.respond import plain_json, success, zoho_json
from simulator.state import STATE, SimState
from simulator.store import Record
from simulator.writefields import Body, Writer, missing
from simulator.writes import read_body

Json = dict[str, Any]
REQUIRED = ("date", "reason", "adjustment_type", "line_items")
TYPES = ("quantity", "value")


@dataclass
class Adjustments:
    """Every adjustment made, in creation order (they are never edited here)."""

    records: dict[str, Json] = field(default_factory=dict)


ADJUSTMENTS = web.AppKey("simulator_adjustments", Adjustments)


def _line(state: SimState, writer: Writer, kind: str,
          entry: Any) -> tuple[Record, int, float, Json]:
    if not isinstance(entry, dict):
        raise invalid_value("line_items")
    item = writer.item_of(entry)
    site = writer.site_index(entry)
    key = "quantity_adjusted" if kind == "quantity" else "value_adjusted"
    if key not in entry:
        raise missing(key)
    try:
        amount = float(entry[key])
    except (TypeError, ValueError):
        raise invalid_value(key) from None
    if amount == 0 or isinstance(entry[key], bool):
        raise invalid_value(key)
    location = state.store.sites[site]
    place = ("location_id", "location_name") if state.store.shape == "locations" \
        else ("warehouse_id", "warehouse_name")
    out: Json = {
        "item_id": item.id, "name": item.data["name"], "sku": item.data["sku"],
        "unit": item.data["unit"], key: amount,
        place[0]: location.id, place[1]: location.data["location_name"],
    }
    return item, site, amount, out


async def create(request: web.Request) -> web.StreamResponse:
    """POST /inventoryadjustments: apply every line, or none when one is invalid."""
    state = request.app[STATE]
    body: Body = await read_body(request)
    for key in REQUIRED:
        if body.get(key) in (None, "", []):
            raise missing(key)
    kind = body["adjustment_type"]
    if kind not in TYPES:
        raise invalid_value("adjustment_type")
    if not isinstance(body["line_items"], list):
        raise invalid_value("line_items")
    writer = Writer(state.store)
    lines = [_line(state, writer, kind, entry) for entry in body["line_items"]]
    if kind == "quantity":
        moved: dict[tuple[str, int], float] = {}
        for item, site, amount, _ in lines:
            moved[(item.id, site)] = moved.get((item.id, site), 0.0) + amount
            assert item.stock is not None
            if item.stock[site][0] + moved[(item.id, site)] < 0:
                raise invalid_value("quantity_adjusted")
    store = request.app[ADJUSTMENTS].records
    now = int(state.clock.now())
    stamp = format_ts(now, state.store.org.utc_offset_minutes)
    adjustment_id = aux_id(state.store.prefix, ADJUSTMENT_CODE, len(store), width=18)
    for n, (_, _, _, out) in enumerate(lines):
        out["line_item_id"] = aux_id(state.store.prefix, ADJUSTMENT_LINE_CODE,
                                     len(store) * 1000 + n, width=18)
    record: Json = {
        "inventory_adjustment_id": adjustment_id,
        "date": body["date"], "reason": str(body["reason"]),
        "description": str(body.get("description", "")),
        "reference_number": str(body.get("reference_number", "")),
        "adjustment_type": kind, "status": "adjusted",
        "total": money(sum(a for _, _, a, _ in lines)) if kind == "value" else 0.0,
        "line_items": [out for _, _, _, out in lines],
        "created_time": stamp, "last_modified_time": stamp,
    }
    store[adjustment_id] = record
    if kind == "quantity":  # a value adjustment changes valuation only, not stock
        for item, site, amount, _ in lines:
            assert item.stock is not None
            item.stock[site][0] += amount
            sync_stock(item)
        for item in {item.id: item for item, _, _, _ in lines}.values():
            state.changes.write("items", item, "stock")
    return zoho_json(request, {"code": 0, "message": "Inventory Adjustment has been added.",
                               "inventory_adjustment": record}, 201)


async def list_adjustments(request: web.Request) -> web.StreamResponse:
    """GET /inventoryadjustments, with `reference_number` (exact) and paging."""
    records = list(request.app[ADJUSTMENTS].records.values())
    wanted = request.query.get("reference_number")
    if wanted is not None:
        records = [r for r in records if r["reference_number"] == wanted]
    try:
        page = int(request.query.get("page", "1"))
        per_page = int(request.query.get("per_page", str(MAX_PER_PAGE)))
    except ValueError:
        raise invalid_value("page") from None
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise invalid_value("per_page" if page >= 1 else "page")
    rows = records[(page - 1) * per_page : page * per_page]
    context = {"page": page, "per_page": per_page,
               "has_more_page": page * per_page < len(records),
               "report_name": "Inventory Adjustments", "applied_filter": "Status.All",
               "sort_column": "created_time", "sort_order": "A", "search_criteria": []}
    return success(request, inventory_adjustments=rows, page_context=context)


async def get_adjustment(request: web.Request) -> web.StreamResponse:
    """GET /inventoryadjustments/{id}."""
    record = request.app[ADJUSTMENTS].records.get(request.match_info["record_id"])
    if record is None:
        raise ZohoError(404, 1002, "Inventory Adjustment does not exist.")
    return success(request, inventory_adjustment=record)


async def ground_truth(request: web.Request) -> web.StreamResponse:
    """GET /_sim/adjustments: every adjustment made (they are not in `/_sim/state/`, which
    serves the entity tables), for tests counting a write-back's effect."""
    return plain_json({"records": request.app[ADJUSTMENTS].records})


def add_routes(app: web.Application) -> None:
    """Inventory adjustments are an Inventory v1 module only."""
    app[ADJUSTMENTS] = Adjustments()
    app.router.add_get("/_sim/adjustments", ground_truth)
    app.router.add_post(f"{INVENTORY}/inventoryadjustments", create)
    app.router.add_get(f"{INVENTORY}/inventoryadjustments", list_adjustments)
    app.router.add_get(f"{INVENTORY}/inventoryadjustments/{{record_id}}", get_adjustment)
