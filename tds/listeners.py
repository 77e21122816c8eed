"""Serve several aiohttp applications, each on its own address, in one process and loop.

`web.run_app` serves one application; `tds web` serves two (the webhook that faces Zoho and
the admin that does not), so they get separate routers and cannot reach each other's paths.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from tds.errors import TDSError
from tds.signals import stop_on_signals

logger = logging.getLogger(__name__)


class ListenError(TDSError):
    """A listener could not bind its address (in use, not local, not permitted)."""


@dataclass(frozen=True, slots=True)
class Listener:
    """One application on one address; `settings` names what chose the address."""

    name: str
    app: web.Application
    host: str
    port: int
    settings: str


def overlap(a: Listener, b: Listener) -> bool:
    """True when both would bind the same port on a shared address."""
    wildcard = {"0.0.0.0", "::", ""}  # noqa: S104  # compared, not bound
    return a.port == b.port and (a.host == b.host or a.host in wildcard or b.host in wildcard)


async def _serve(listeners: Sequence[Listener], *, access_log: logging.Logger | None,
                 lingering_time: float) -> None:
    stop = stop_on_signals()
    runners: list[web.AppRunner] = []
    try:
        # In order: the first application's start-up (the publisher) runs before the others'.
        for listener in listeners:
            runner = web.AppRunner(listener.app, access_log=access_log,
                                   lingering_time=lingering_time)
            await runner.setup()
            runners.append(runner)
            try:
                await web.TCPSite(runner, listener.host, listener.port).start()
            except OSError as exc:
                raise ListenError(f"the {listener.name} listener cannot listen on "
                                  f"{listener.host}:{listener.port} ({listener.settings}): "
                                  f"{exc.strerror or exc}") from exc
        await stop.wait()
    finally:
        # Reverse order: the admin stops before the webhook flushes the shared publisher.
        for runner in reversed(runners):
            await runner.cleanup()


def serve(listeners: Sequence[Listener], *, access_log: logging.Logger | None = None,
          lingering_time: float = 10.0) -> None:
    """Serve every listener until SIGINT or SIGTERM, then clean up in reverse order."""
    for i, a in enumerate(listeners):
        for b in listeners[i + 1:]:
            if overlap(a, b):
                raise ListenError(f"the {a.name} and {b.name} listeners would share "
                                  f"{b.host}:{b.port}: give each its own port "
                                  f"({a.settings}; {b.settings})")
    asyncio.run(_serve(listeners, access_log=access_log, lingering_time=lingering_time))
