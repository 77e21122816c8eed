"""Admin writes: manual sync and stock sync become commands on tds.commands."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from api.auth import require_token
from api.context import API, ApiContext
from api.errors import BadRequest
from api.render import json_response
from schemas.cloudevents import ce_headers
from schemas.events import Command
from schemas.zoho_payload import canonical_entity

SYNCABLE = ("item", "contact", "salesorder", "invoice", "customerpayment", "creditnote",
            "bill", "vendorpayment", "location")
MAX_BODY = 16 * 1024


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (an empty body is `{}`)."""
    if request.content_length and request.content_length > MAX_BODY:
        raise BadRequest(f"body larger than {MAX_BODY} bytes")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadRequest(f"body larger than {MAX_BODY} bytes")
    if not raw.strip():
        return {}
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRequest("body must be a JSON object")
    return doc


def _entity_types(value: Any) -> list[str]:
    # An empty string is refused, not read as "all": a blank form field must not start a
    # full sync of every entity.
    if value is None or value == "all":
        return list(SYNCABLE)
    names = value if isinstance(value, list) else [value]
    if not names:
        raise BadRequest("entity_type is an empty list: name at least one, or send null/'all'")
    if "all" in names:
        return list(SYNCABLE)
    out = []
    for name in names:
        entity = canonical_entity(name) if isinstance(name, str) else None
        if entity not in SYNCABLE:
            raise BadRequest(f"entity_type {name!r} is not one of {', '.join(SYNCABLE)} "
                             "(aliases such as products, customers, sales_orders work)")
        assert entity is not None
        if entity not in out:
            out.append(entity)
    return out


async def _publish(ctx: ApiContext, command: Command) -> None:
    await ctx.sink.publish(
        ctx.commands_topic, command.encode(), key=command.kind.encode(),
        headers=ce_headers("tds.command", "/tds/api", event_id=command.command_id))


async def sync(request: web.Request) -> web.Response:
    """POST /api/tds/sync {entity_type, source, mode}: 202 with the run id."""
    ctx = request.app[API]
    require_token(request, ctx.settings.api_token)
    body = await read_json(request)
    source = body.get("source", "zoho")
    if source != "zoho":
        raise BadRequest(f"source {source!r} is not supported (only 'zoho')")
    mode = body.get("mode", "full")
    if mode not in ("full", "incremental"):
        raise BadRequest(f"mode {mode!r} is not one of full, incremental")
    command = Command(command_id=str(uuid.uuid4()), kind="sync", run_id=str(uuid.uuid4()),
                      requested_at=datetime.now(UTC),
                      entity_types=_entity_types(body.get("entity_type")),
                      source="zoho", mode=mode, requested_by="api")
    await _publish(ctx, command)
    return json_response({"status": "accepted", "run_id": command.run_id,
                          "command_id": command.command_id,
                          "entity_types": command.entity_types, "mode": mode}, status=202)


async def stock_sync(request: web.Request) -> web.Response:
    """POST /api/tds/stock/sync: 202 with the run id."""
    ctx = request.app[API]
    require_token(request, ctx.settings.api_token)
    await read_json(request)
    command = Command(command_id=str(uuid.uuid4()), kind="stock_sync", run_id=str(uuid.uuid4()),
                      requested_at=datetime.now(UTC), entity_types=["stock"],
                      requested_by="api")
    await _publish(ctx, command)
    return json_response({"status": "accepted", "run_id": command.run_id,
                          "command_id": command.command_id}, status=202)
