"""Sync runs: a filterable page, one run, and its log for download."""

from __future__ import annotations

from aiohttp import web

from api import queries
from api.context import API
from api.errors import NotFound
from api.params import choice_param, int_param, text_param
from api.render import json_response
from schemas.events import ENTITY_TYPES, RUN_TYPES, SYNC_STATUSES


async def list_runs(request: web.Request) -> web.Response:
    """GET /api/tds/sync-runs?limit&offset&status&run_type&entity_type."""
    ctx = request.app[API]
    limit = int_param(request, "limit", 50, 1, 500)
    offset = int_param(request, "offset", 0, 0, 10_000_000)
    status = choice_param(request, "status", SYNC_STATUSES)
    run_type = choice_param(request, "run_type", RUN_TYPES)
    entity = choice_param(request, "entity_type", ENTITY_TYPES)
    async with ctx.db().acquire() as conn:
        total, runs = await queries.list_runs(conn, limit=limit, offset=offset, status=status,
                                              run_type=run_type, entity_type=entity)
    return json_response({"total": total, "limit": limit, "offset": offset, "runs": runs})


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
