"""Books v3 and Inventory v1 read endpoints over the same data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from simulator.entities import DOCUMENT_ENTITIES, ENTITIES, EntitySpec
from simulator.errors import ZohoError, invalid_value
from simulator.images import CONTENT_TYPES, image_bytes
from simulator.query import page_context, parse_list_query
from simulator.respond import LIST_PAGE, success
from simulator.state import STATE
from simulator.stockview import organization, warehouse
from simulator.store import Record

BOOKS = "/books/v3"
INVENTORY = "/inventory/v1"
PREFIXES = (BOOKS, INVENTORY)
MAX_ITEM_IDS = 100
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def not_found(spec: EntitySpec) -> ZohoError:
    """Return Zoho's error for an unknown record id."""
    return ZohoError(404, 1002, f"{spec.label} does not exist.")


def _live(request: web.Request, spec: EntitySpec) -> Record:
    rec = request.app[STATE].store.table(spec.path).records.get(request.match_info["record_id"])
    if rec is None:
        raise not_found(spec)
    return rec


def list_handler(spec: EntitySpec) -> Handler:
    """Return the handler of GET /{entity}: one page of list-view records."""

    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        q = parse_list_query(spec, request.query, state.config.org.utc_offset_minutes)
        rows = state.lister.select(state.store.table(spec.path), q)
        start = (q.page - 1) * q.per_page
        page = [state.renderer.list_view(r) for r in rows[start : start + q.per_page]]
        request[LIST_PAGE] = True
        return success(
            request, **{spec.list_key: page, "page_context": page_context(spec, q, len(rows))}
        )

    return handle


def get_handler(spec: EntitySpec) -> Handler:
    """Return the handler of GET /{entity}/{id}: the full record."""

    async def handle(request: web.Request) -> web.StreamResponse:
        rec = _live(request, spec)
        full = request.app[STATE].renderer.full(spec.path, rec)
        return success(request, **{spec.single_key: full})

    return handle


async def item_details(request: web.Request) -> web.StreamResponse:
    """GET /itemdetails?item_ids=a,b,c: full items, up to 100, in the order asked."""
    state = request.app[STATE]
    ids = [i.strip() for i in request.query.get("item_ids", "").split(",") if i.strip()]
    if not ids or len(ids) > MAX_ITEM_IDS:
        raise invalid_value("item_ids")
    table = state.store.table("items")
    found = [table.records[i] for i in dict.fromkeys(ids) if i in table.records]
    items = [state.renderer.full("items", rec) for rec in found]
    context = {
        "page": 1,
        "per_page": len(items),
        "has_more_page": False,
        "report_name": "Items",
        "sort_column": "",
        "sort_order": "A",
    }
    return success(request, items=items, page_context=context)


async def item_image(request: web.Request) -> web.StreamResponse:
    """GET /items/{id}/image: the image bytes, or 404 code 1002 when the item has none."""
    state = request.app[STATE]
    rec = _live(request, ENTITIES["items"])
    kind = rec.data["image_type"]
    if not rec.data["image_id"]:
        raise ZohoError(404, 1002, "Image does not exist.")
    body = image_bytes(state.store.seed, rec.data["image_id"], kind)
    return web.Response(
        body=body,
        content_type=CONTENT_TYPES.get(kind, "application/octet-stream"),
        headers={"Content-Disposition": f'inline; filename="{rec.data["image_name"]}"'},
    )


async def organizations(request: web.Request) -> web.StreamResponse:
    """GET /organizations: the one organization this token can see."""
    state = request.app[STATE]
    org = organization(state.store, state.config.data.history_end_epoch_s - 400 * 86_400)
    return success(request, organizations=[org])


async def organization_detail(request: web.Request) -> web.StreamResponse:
    """GET /organizations/{id}."""
    state = request.app[STATE]
    org_id = request.match_info["org_id"]
    if org_id != state.config.org.organization_id:
        raise ZohoError(
            400, 6041, f"This user is not associated with the CompanyID/CompanyName:{org_id}."
        )
    org = organization(state.store, state.config.data.history_end_epoch_s - 400 * 86_400)
    return success(request, organization=org)


async def locations(request: web.Request) -> web.StreamResponse:
    """GET /locations: every location (not paginated)."""
    state = request.app[STATE]
    sites = [state.renderer.full("locations", s) for s in state.store.sites]
    return success(request, locations=sites)


async def warehouses(request: web.Request) -> web.StreamResponse:
    """GET /settings/warehouses: the legacy view of the same locations."""
    state = request.app[STATE]
    return success(request, warehouses=[warehouse(s) for s in state.store.sites])


async def warehouse_detail(request: web.Request) -> web.StreamResponse:
    """GET /settings/warehouses/{id}."""
    state = request.app[STATE]
    site = state.store.table("locations").records.get(request.match_info["record_id"])
    if site is None:
        raise ZohoError(404, 1002, "Warehouse does not exist.")
    return success(request, warehouse=warehouse(site))


def add_routes(app: web.Application) -> None:
    """Register every API route under both the Books and Inventory prefixes."""
    for prefix in PREFIXES:
        router = app.router
        for path in DOCUMENT_ENTITIES:
            spec = ENTITIES[path]
            router.add_get(f"{prefix}/{path}", list_handler(spec))
            router.add_get(f"{prefix}/{path}/{{record_id}}", get_handler(spec))
        router.add_get(f"{prefix}/itemdetails", item_details)
        router.add_get(f"{prefix}/items/{{record_id}}/image", item_image)
        router.add_get(f"{prefix}/organizations", organizations)
        router.add_get(f"{prefix}/organizations/{{org_id}}", organization_detail)
        router.add_get(f"{prefix}/locations", locations)
        router.add_get(f"{prefix}/locations/{{record_id}}", get_handler(ENTITIES["locations"]))
        router.add_get(f"{prefix}/settings/warehouses", warehouses)
        router.add_get(f"{prefix}/settings/warehouses/{{record_id}}", warehouse_detail)
