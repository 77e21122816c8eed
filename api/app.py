"""The admin API, BFF, dashboard and /metrics, added to the web process's application."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from api import commands, deadletters, outbound, overview, runs
from api.auth import require_read
from api.context import API, ApiContext
from api.errors import Handler
from api.openapi import document
from api.render import json_response
from tds.metrics import exposition

STATIC = Path(__file__).parent / "static"
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


async def _openapi(request: web.Request) -> web.Response:
    return json_response(document())


async def _metrics(request: web.Request) -> web.Response:
    ctx = request.app[API]
    return web.Response(body=exposition(ctx.metrics.registry),
                        content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


def _read(handler: Handler) -> Handler:
    """`handler` behind the read check: the bearer token unless TDS_API_OPEN_READS."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        require_read(request, request.app[API].settings)
        return await handler(request)

    return guarded


async def _dashboard(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "dashboard.html", headers=_SECURITY_HEADERS)


def add_routes(app: web.Application, ctx: ApiContext) -> None:
    """Mount every admin, BFF, dashboard and metrics route on `app`.

    Reads are registered through `_read`, so none can be added without the token check; the
    health probe answers everyone (with details only for readers), and the dashboard page,
    its files and the OpenAPI document hold no data.
    """
    app[API] = ctx
    app.router.add_get("/api/tds/health", overview.health)
    app.router.add_get("/api/tds/status", _read(overview.status))
    app.router.add_get("/api/tds/queue", _read(overview.queue))
    app.router.add_get("/api/tds/history", _read(overview.history))
    app.router.add_post("/api/tds/sync", commands.sync)
    app.router.add_post("/api/tds/stock/sync", commands.stock_sync)
    app.router.add_get("/api/tds/sync-runs", _read(runs.list_runs))
    app.router.add_get("/api/tds/sync-runs/{run_id}", _read(runs.get_run))
    app.router.add_get("/api/tds/deadletter", _read(deadletters.list_dead))
    app.router.add_post("/api/tds/deadletter/retry", deadletters.retry)
    # The guide's troubleshooting section calls this spelling.
    app.router.add_post("/api/tds/deadletter/retry-all", deadletters.retry_all)
    app.router.add_post("/api/tds/outbound", outbound.submit)
    app.router.add_get("/api/tds/outbound", _read(outbound.list_commands))
    app.router.add_get("/api/tds/outbound/{command_id}", _read(outbound.get_command))
    app.router.add_get("/api/bff/tds/status", _read(overview.bff_status))
    app.router.add_get("/api/bff/tds/recent", _read(overview.bff_recent))
    app.router.add_get("/api/openapi.json", _openapi)
    app.router.add_get("/metrics", _read(_metrics))
    app.router.add_get("/tds-admin", _dashboard)
    app.router.add_get("/tds-admin/", _dashboard)
    app.router.add_static("/tds-admin/static", STATIC, show_index=False)
