"""Sync runs: a filterable page, one run, and its log for download."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from api import queries
from api.context import API
from api.errors import BadRequest, NotFound
from api.params import choice_param, int_param, text_param
from api.render import json_response
from schemas.events import ENTITY_TYPES, RUN_TYPES, SYNC_STATUSES


def cursor_of(run: dict[str, Any]) -> str:
    """The opaque `after` cursor that continues after `run`."""
    started = run["started_at"]
    key = [started.isoformat() if started is not None else None, run["run_id"]]
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def _after(request: web.Request) -> tuple[datetime | None, str] | None:
    raw = text_param(request, "after", 400)
    if raw is None:
        return None
    try:
        started, run_id = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        when = datetime.fromisoformat(started) if started is not None else None
        if not isinstance(run_id, str) or (when is not None and when.tzinfo is None):
            raise ValueError("not a cursor")
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise BadRequest(f"after={raw!r} is not a cursor from a previous page's `next`"
                         ) from None
    return when, run_id


async def list_runs(request: web.Request) -> web.Response:
    """GET /api/tds/sync-runs?limit&offset|after&status&run_type&entity_type.

    `next` is the cursor of the page after this one (None on the last page): `after=next`
    costs the same at any depth, where a deep `offset` reads every row it skips."""
    ctx = request.app[API]
    limit = int_param(request, "limit", 50, 1, 500)
    offset = int_param(request, "offset", 0, 0, 10_000_000)
    after = _after(request)
    if after is not None and offset:
        raise BadRequest("give either offset or after, not both")
    status = choice_param(request, "status", SYNC_STATUSES)
    run_type = choice_param(request, "run_type", RUN_TYPES)
    entity = choice_param(request, "entity_type", ENTITY_TYPES)
    async with ctx.db().acquire() as conn:
        total, runs = await queries.list_runs(conn, limit=limit, offset=offset, status=status,
                                              run_type=run_type, entity_type=entity,
                                              after=after)
    following = cursor_of(runs[-1]) if len(runs) == limit else None
    return json_response({"total": total, "limit": limit, "offset": offset, "next": following,
                          "runs": runs})


async def get_run(request: web.Request) -> web.StreamResponse:
    """GET /api/tds/sync-runs/{run_id} (`?format=log` downloads the run's log as text)."""
    ctx = request.app[API]
    run_id = request.match_info["run_id"]
    fmt = choice_param(request, "format", ("json", "log")) or "json"
    text_param(request, "run_id")
    async with ctx.db().acquire() as conn:
        run = await queries.get_run(conn, run_id)
        if run is None:
            raise NotFound(f"no sync run {run_id!r}")
        changes = await queries.run_changes(conn, run_id, 10_000)
    if fmt == "json":
        run["changes"] = changes
        return json_response(run)
    lines = [
        f"run {run['run_id']} ({run['run_type']}, {', '.join(run['entity_types'])})",
        f"status {run['status']}; started {run['started_at']}; finished {run['finished_at']}",
        f"expected {run['expected']} sent {run['sent']} seen {run['seen']} "
        f"changed {run['changed']} unchanged {run['unchanged']} failed {run['failed']} "
        f"deleted {run['deleted']}",
    ]
    if run["error"]:
        lines.append(f"error: {run['error']}")
    lines += [f"{c['projected_at']} {c['action']} {c['entity_type']} {c['entity_id']} "
              f"(version {c['version_modified_at']})" for c in changes]
    return web.Response(
        text="\n".join(lines) + "\n", content_type="text/plain",
        headers={"Content-Disposition": f'attachment; filename="sync-run-{run_id}.log"'})
