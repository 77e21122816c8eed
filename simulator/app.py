"""Build the simulator's aiohttp application."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from simulator import accounts, adjustments, api, control, writes
from simulator.clock import SimClock
from simulator.config import SimConfig
from simulator.guard import api_guard
from simulator.state import STATE, SimState


async def _background(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    await state.dispatcher.start()
    state.changes.set_rate(state.config.change_rate)
    yield
    await state.changes.stop()
    await state.dispatcher.stop()


def build_app(config: SimConfig, *, clock: SimClock | None = None) -> web.Application:
    """Return a ready application: data generated, routes registered, tasks set to start."""
    state = SimState.build(config, clock)
    app = web.Application(middlewares=[control.control_errors, api_guard])
    app[STATE] = state
    api.add_routes(app)
    writes.add_routes(app)
    adjustments.add_routes(app)
    accounts.add_routes(app)
    control.add_routes(app)
    app.cleanup_ctx.append(_background)
    return app


def state_of(app: web.Application) -> SimState:
    """Return the simulator state of an app built by build_app (for in-process tests)."""
    return app[STATE]
