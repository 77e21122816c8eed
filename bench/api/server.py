"""The admin API alone, on a given schema: what `tds web` mounts, without the webhook.

    python -m bench.api.server --schema bench_api --port 8931

Commands (POST) go to a sink that drops them; the benchmark only reads.
"""

from __future__ import annotations

import argparse
import gc
from typing import Any

from aiohttp import web

from api.errors import error_middleware
from api.wiring import install
from schemas.cloudevents import Headers
from tds.metrics import Metrics
from tds.settings import Settings, find_services_env, load_env_file


class NullSink:
    """Accepts commands and publishes nothing."""

    async def publish(self, topic: str, value: bytes, *, key: bytes | None = None,
                      headers: Headers | None = None, partition: int = -1) -> Any:
        return None


async def _freeze(_: web.Application) -> None:
    gc.collect()
    gc.freeze()


def main() -> None:
    """Serve the API until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    services = find_services_env()
    if services is not None:
        load_env_file(services)
    settings = Settings.from_env()
    app = web.Application(middlewares=[error_middleware])
    install(app, settings=settings, sink=NullSink(), metrics=Metrics.create(),
            schema=args.schema)
    app.on_startup.append(_freeze)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
