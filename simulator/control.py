"""The /_sim/ control API (JSON in and out, no authentication)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson
from aiohttp import web

from simulator.accounts import base_url
from simulator.api import Handler
from simulator.clock import format_ts
from simulator.config import validate_faults, validate_limits, validate_webhooks
from simulator.entities import ENTITIES
from simulator.errors import ConfigError, ControlError
from simulator.respond import plain_json
from simulator.settings_json import describe, merge, merge_webhooks
from simulator.state import STATE

MAX_APPLY = 100_000


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ControlError("the body is not valid JSON", str(exc)) from None
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    return body


async def credentials(request: web.Request) -> web.StreamResponse:
    """Return what a client needs to talk to this simulator."""
    cfg = request.app[STATE].config
    base = base_url(request)
    return plain_json(
        {
            "client_id": cfg.oauth.client_id,
            "client_secret": cfg.oauth.client_secret,
            "refresh_token": cfg.oauth.refresh_token,
            "organization_id": cfg.org.organization_id,
            "api_domain": base,
            "accounts_url": base,
            "books_api": f"{base}/books/v3",
            "inventory_api": f"{base}/inventory/v1",
            "stock_shape": cfg.data.stock_shape,
        }
    )


async def ground_truth(request: web.Request) -> web.StreamResponse:
    """Return every live record (as GET returns it, or ?view=list) and the deleted ids."""
    state = request.app[STATE]
    entity = request.match_info["entity"]
    if entity not in ENTITIES:
        raise ControlError(f"unknown entity {entity!r}", {"known": list(ENTITIES)})
    table = state.store.table(entity)
    if request.query.get("view") == "list":
        records = {rid: state.renderer.list_view(rec) for rid, rec in table.records.items()}
    else:
        records = {rid: state.renderer.full(entity, rec) for rid, rec in table.records.items()}
    return plain_json({"records": records, "deleted": list(table.deleted)})


async def stats(request: web.Request) -> web.StreamResponse:
    """Return every counter."""
    state = request.app[STATE]
    out = state.stats.snapshot()
    out["webhooks"]["pending"] = state.dispatcher.pending
    return plain_json(out)


async def faults(request: web.Request) -> web.StreamResponse:
    """GET or POST (partial update) the fault settings."""
    state = request.app[STATE]
    if request.method == "POST":
        updated = merge(state.faults.config, await _body(request))
        validate_faults(updated)
        state.faults.config = updated
    return plain_json(asdict(state.faults.config))


async def limits(request: web.Request) -> web.StreamResponse:
    """GET or POST (partial update) the quotas."""
    state = request.app[STATE]
    if request.method == "POST":
        updated = merge(state.limiter.limits, await _body(request))
        validate_limits(updated)
        state.limiter.limits = updated
    return plain_json(state.limiter.snapshot())


async def webhooks(request: web.Request) -> web.StreamResponse:
    """GET or POST (partial update) the webhook settings and rules."""
    state = request.app[STATE]
    if request.method == "POST":
        updated = merge_webhooks(state.dispatcher.config, await _body(request))
        validate_webhooks(updated)
        state.dispatcher.update(updated)
    return plain_json(describe(state.dispatcher.config))


async def drain(request: web.Request) -> web.StreamResponse:
    """Wait (bounded) until every queued webhook is delivered or given up."""
    state = request.app[STATE]
    body = await _body(request)
    timeout = body.get("timeout_s", 10.0)
    if not isinstance(timeout, (int, float)) or not 0 <= timeout <= 300:
        raise ControlError("timeout_s must be a number of seconds (0-300)")
    drained = await state.dispatcher.drain(float(timeout))
    return plain_json(
        {"drained": drained, "pending": state.dispatcher.pending, **state.stats.snapshot()}
    )


async def webhook_log(request: web.Request) -> web.StreamResponse:
    """Return the most recent delivery attempts (up to 1000) and the deliveries given up
    after their last attempt (up to 10,000)."""
    dispatcher = request.app[STATE].dispatcher
    return plain_json({"attempts": list(dispatcher.log), "given_up": list(dispatcher.given_up)})


def _explicit(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict) or "entity" not in spec or "action" not in spec:
        raise ControlError('each explicit change needs "entity" and "action"')
    fields = spec.get("fields")
    if fields is not None and not isinstance(fields, dict):
        raise ControlError('"fields" must be an object')
    webhook = spec.get("webhook")
    if webhook is not None and not isinstance(webhook, bool):
        raise ControlError('"webhook" must be true or false')
    return {
        "entity": spec["entity"],
        "action": spec["action"],
        "record_id": spec.get("id"),
        "fields": fields,
        "webhook": webhook,
    }


async def changes(request: web.Request) -> web.StreamResponse:
    """GET the change log (?since=seq&limit=n) or POST rate / fraction / apply."""
    engine = request.app[STATE].changes
    if request.method == "GET":
        try:
            since = int(request.query.get("since", "0"))
            limit = min(int(request.query.get("limit", "1000")), MAX_APPLY)
        except ValueError:
            raise ControlError("since and limit must be whole numbers") from None
        rows = [c.descriptor() for c in engine.since(since, limit)]
        return plain_json({"changes": rows, "last_seq": engine.log[-1].seq if engine.log else 0})
    body = await _body(request)
    unknown = set(body) - {"rate", "no_webhook_fraction", "apply"}
    if unknown:
        raise ControlError(f"unknown keys {sorted(unknown)}")
    applied: list[dict[str, Any]] = []
    if "no_webhook_fraction" in body:
        fraction = body["no_webhook_fraction"]
        if not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
            raise ControlError("no_webhook_fraction must be a fraction (0.0-1.0)")
        engine.no_webhook_fraction = float(fraction)
    todo = body.get("apply")
    if isinstance(todo, int) and not isinstance(todo, bool):
        if not 0 <= todo <= MAX_APPLY:
            raise ControlError(f"apply must be between 0 and {MAX_APPLY}")
        applied = [engine.random_change().descriptor() for _ in range(todo)]
    elif isinstance(todo, list):
        if len(todo) > MAX_APPLY:
            raise ControlError(f"at most {MAX_APPLY} explicit changes per request")
        plans = [_explicit(spec) for spec in todo]
        applied = [engine.apply(**plan).descriptor() for plan in plans]
    elif todo is not None:
        raise ControlError("apply must be a count or a list of changes")
    if "rate" in body:
        rate = body["rate"]
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate < 0:
            raise ControlError("rate must be changes per second (>= 0)")
        engine.set_rate(float(rate))
    return plain_json(
        {"rate": engine.rate, "no_webhook_fraction": engine.no_webhook_fraction, "applied": applied}
    )


async def reset(request: web.Request) -> web.StreamResponse:
    """Reset quota windows and token state ({"limits": bool, "tokens": bool}, both default)."""
    state = request.app[STATE]
    body = await _body(request)
    done = []
    if body.get("limits", True):
        state.limiter.reset()
        done.append("limits")
    if body.get("tokens", True):
        state.tokens.reset()
        done.append("tokens")
    return plain_json({"reset": done})


async def clock(request: web.Request) -> web.StreamResponse:
    """GET the simulator time or POST {"advance_s": N} to move it forward."""
    state = request.app[STATE]
    if request.method == "POST":
        advance = (await _body(request)).get("advance_s", 0)
        if not isinstance(advance, (int, float)) or isinstance(advance, bool) or advance < 0:
            raise ControlError("advance_s must be a number of seconds >= 0")
        state.clock.advance(float(advance))
    now = state.clock.now()
    return plain_json(
        {
            "now": now,
            "time": format_ts(int(now), state.config.org.utc_offset_minutes),
            "manual": state.clock.manual,
        }
    )


async def tokens(request: web.Request) -> web.StreamResponse:
    """Return the OAuth token state."""
    return plain_json(request.app[STATE].tokens.snapshot())


@web.middleware
async def control_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render control-API mistakes as 400 {"error": ..., "detail": ...}."""
    if not request.path.startswith("/_sim/"):
        return await handler(request)
    try:
        return await handler(request)
    except ControlError as exc:
        return plain_json({"error": exc.message, "detail": exc.detail}, 400)
    except ConfigError as exc:
        return plain_json({"error": str(exc), "detail": None}, 400)


def add_routes(app: web.Application) -> None:
    """Register the control routes."""
    r = app.router
    r.add_get("/_sim/credentials", credentials)
    r.add_get("/_sim/state/{entity}", ground_truth)
    r.add_get("/_sim/stats", stats)
    r.add_get("/_sim/tokens", tokens)
    for path, handler in (
        ("faults", faults),
        ("limits", limits),
        ("webhooks", webhooks),
        ("changes", changes),
        ("clock", clock),
    ):
        r.add_get(f"/_sim/{path}", handler)
        r.add_post(f"/_sim/{path}", handler)
    r.add_post("/_sim/webhooks/drain", drain)
    r.add_get("/_sim/webhooks/log", webhook_log)
    r.add_post("/_sim/reset", reset)
