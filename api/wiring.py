"""Mount the admin API on the web process's application: pool, Kafka views, chart sampler."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from api.app import add_routes
from api.context import ApiContext, CommandSink, TtlCache, default_groups
from api.history import History
from api.kafka_state import KafkaInspector
from api.peers import read_all
from tds import postgres
from tds.metrics import Metrics, exposition
from tds.settings import Settings


def install(app: web.Application, *, settings: Settings, sink: CommandSink,
            metrics: Metrics, schema: str | None = None) -> ApiContext:
    """Add the API's routes; open its database pool on start-up and close it on clean-up.

    The pool opens lazily (min_size 0), so the webhook keeps answering while PostgreSQL is
    down; the API then reports `unhealthy` rather than the process failing to start.
    """
    peers = settings.chart_metrics_urls
    history = History(read=lambda: exposition(metrics.registry) + b"\n" + read_all(peers)
                      if peers else exposition(metrics.registry))
    ctx = ApiContext(
        settings=settings, pool=None, inspector=KafkaInspector(bootstrap=settings.kafka),
        sink=sink, metrics=metrics, history=history, groups=default_groups(settings),
        org_id=settings.zoho_organization_id or "",
        cache=TtlCache(ttl_s=1.0, enabled=settings.enable_cache))
    add_routes(app, ctx)
    tasks: list[asyncio.Task[None]] = []

    async def start(_: web.Application) -> None:
        server_settings = {"search_path": schema} if schema else {}
        ctx.pool = await postgres.create_pool(settings.dsn, min_size=0, max_size=8,
                                             server_settings=server_settings,
                                             command_timeout=10)
        tasks.append(asyncio.create_task(history.run()))

    async def stop(_: web.Application) -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if ctx.pool is not None:
            await ctx.pool.close()
        await asyncio.to_thread(ctx.inspector.close)

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return ctx
