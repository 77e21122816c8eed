"""`tds web`: the web process, with two listeners.

The webhook listener (TDS_WEBHOOK_HOST/PORT) serves only the Zoho webhook paths and is the
one to expose to Zoho; the admin listener (TDS_ADMIN_HOST/PORT, loopback by default) serves
the admin API, BFF, dashboard and /metrics. They are separate applications, so neither can
answer the other's paths.
"""

from __future__ import annotations

import argparse
import gc
import logging
from typing import Any

from aiohttp import web

from api.errors import error_middleware
from api.wiring import install as install_api
from producers.webhook.app import WEBHOOK_PATH
from producers.webhook.app import add_routes as add_webhook_routes
from producers.webhook.auth import Authenticator
from schemas.topics import RAW_REALTIME
from tds.errors import SettingsError
from tds.kafka import producer_config
from tds.kafka_publisher import Publisher
from tds.listeners import Listener, serve
from tds.logs import configure
from tds.metrics import Metrics
from tds.settings import Settings

logger = logging.getLogger(__name__)

_ENVELOPE_BYTES = 64 * 1024  # room for the raw event's other fields and the headers
# After refusing a body it did not read, the server discards what the client still sends
# for at most this long (so the client sees the answer, not a reset), then closes.
_LINGER_S = 2.0
# `--kafka-poll loop`: poll on every loop pass while acks are awaited (asyncio timers have
# ~1 ms granularity when idle); saves the poll thread's GIL hand-offs.
_LOOP_POLL_S = 0.0005


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("web", help=f"serve the Zoho webhook gateway (POST {WEBHOOK_PATH}) "
                            "and, on a second listener, the admin API and dashboard")
    add_listener_arguments(parser)
    parser.add_argument("--topic", default=RAW_REALTIME,
                        help="topic of raw webhook events (default: %(default)s)")
    parser.add_argument("--ack-timeout-s", type=float, default=10.0,
                        help="longest wait for Kafka's acknowledgement before answering 503 "
                             "(librdkafka message.timeout.ms; default: %(default)s)")
    parser.add_argument("--linger-ms", type=float, default=0.0,
                        help="producer batching delay (librdkafka linger.ms; under load "
                             "messages batch anyway while requests are in flight; measured: "
                             "1 ms adds ~2 ms to the median ack; default: %(default)s)")
    parser.add_argument("--kafka-poll", choices=("thread", "loop"), default="thread",
                        help="serve Kafka's delivery reports from a thread (lowest latency) or "
                             "from the event loop (~30%% less CPU per message, ~0.5 ms more "
                             "latency; default: %(default)s)")
    parser.add_argument("--no-api", action="store_true",
                        help="serve only the webhook listener (no admin API, dashboard or "
                             "/metrics)")
    parser.add_argument("--access-log", action="store_true",
                        help="log every request (off by default: it costs throughput)")
    parser.set_defaults(handler=run)


def add_listener_arguments(parser: argparse.ArgumentParser) -> None:
    """The listener options of `tds web` (and `tds up`, which passes them on)."""
    # --host/--port were the one listener's flags; they keep the guide's admin URLs working.
    parser.add_argument("--admin-host", "--host", dest="admin_host", default=None,
                        help="admin listener address (default: TDS_ADMIN_HOST, 127.0.0.1)")
    parser.add_argument("--admin-port", "--port", dest="admin_port", type=int, default=None,
                        help="admin listener port (default: TDS_ADMIN_PORT, 8000)")
    parser.add_argument("--webhook-host", default=None,
                        help="webhook listener address (default: TDS_WEBHOOK_HOST, 127.0.0.1)")
    parser.add_argument("--webhook-port", type=int, default=None,
                        help="webhook listener port (default: TDS_WEBHOOK_PORT, 8001)")


def listen_addresses(args: argparse.Namespace, settings: Settings) -> tuple[
        tuple[str, int], tuple[str, int]]:
    """(webhook host, port), (admin host, port): the options, else the settings."""
    return ((args.webhook_host or settings.webhook_host,
             args.webhook_port or settings.webhook_port),
            (args.admin_host or settings.admin_host, args.admin_port or settings.admin_port))


def build_webhook_app(settings: Settings, *, publisher: Publisher, metrics: Metrics,
                      topic: str = RAW_REALTIME) -> web.Application:
    """The webhook listener's application: the Zoho paths only; it owns the publisher."""
    app = web.Application()
    add_webhook_routes(app, settings=settings, publisher=publisher, metrics=metrics,
                       topic=topic)

    async def start_publisher(_: web.Application) -> None:
        await publisher.start()

    async def close_publisher(_: web.Application) -> None:
        await publisher.close()

    app.on_startup.append(start_publisher)
    app.on_cleanup.append(close_publisher)
    return app


def build_admin_app(settings: Settings, *, publisher: Publisher,
                    metrics: Metrics) -> web.Application:
    """The admin listener's application: admin API, BFF, dashboard and /metrics.

    It publishes its commands through the webhook application's publisher, so it must be
    started after that one and cleaned up before it (`tds.listeners.serve` does both).
    """
    app = web.Application(middlewares=[error_middleware])
    install_api(app, settings=settings, sink=publisher, metrics=metrics)
    return app


def webhook_producer_config(settings: Settings, *, ack_timeout_s: float = 10.0,
                            linger_ms: float = 0.0) -> dict[str, Any]:
    """Producer settings of the gateway: acks=all, idempotent, bounded wait for the ack."""
    return producer_config(settings.kafka, **{
        "client.id": "tds-web",
        "message.timeout.ms": max(1, int(ack_timeout_s * 1000)),
        "linger.ms": linger_ms,
        "message.max.bytes": max(1_000_000, settings.webhook_max_body_bytes + _ENVELOPE_BYTES),
    })


async def _freeze_heap(_: web.Application) -> None:
    """Move everything built at start-up out of the garbage collector's sight.

    A full collection walks every tracked object (~25 ms on a loaded 2-CPU machine for the
    ~40,000 objects of the imports) and runs every few hundred requests: it was the p99.
    """
    gc.collect()
    gc.freeze()


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until SIGINT or SIGTERM, then flush the producer."""
    configure(settings.log_level, settings.log_format, settings.secrets())
    if args.access_log:
        logging.getLogger("aiohttp.access").setLevel(logging.INFO)
    metrics = Metrics.create()
    publisher = Publisher.create(
        webhook_producer_config(settings, ack_timeout_s=args.ack_timeout_s,
                                linger_ms=args.linger_ms), metrics=metrics,
        loop_poll_s=_LOOP_POLL_S if args.kafka_poll == "loop" else None)
    (hook_host, hook_port), (admin_host, admin_port) = listen_addresses(args, settings)
    if args.no_api and (args.admin_host or args.admin_port):
        raise SettingsError(["--no-api serves no admin listener: drop --admin-host/--host and "
                             "--admin-port/--port"])
    hook_app = build_webhook_app(settings, publisher=publisher, metrics=metrics,
                                 topic=args.topic)
    listeners = [Listener("webhook", hook_app, hook_host, hook_port,
                          "TDS_WEBHOOK_HOST/TDS_WEBHOOK_PORT, --webhook-host/--webhook-port")]
    if not args.no_api:
        listeners.append(Listener(
            "admin", build_admin_app(settings, publisher=publisher, metrics=metrics),
            admin_host, admin_port, "TDS_ADMIN_HOST/TDS_ADMIN_PORT, --host/--port"))
    listeners[-1].app.on_startup.append(_freeze_heap)  # after every start-up import
    mode = Authenticator.from_settings(settings).mode
    if mode == "refuse":
        logger.warning("no ZOHO_WEBHOOK_SECRET and TDS_WEBHOOK_ALLOW_UNSIGNED is false: every "
                       "webhook will be refused with 401")
    elif mode == "unsigned":
        logger.warning("accepting unauthenticated webhooks (TDS_WEBHOOK_ALLOW_UNSIGNED=true)")
    logger.info("tds web: webhooks on http://%s:%d%s (auth %s) to topic %s", hook_host,
                hook_port, WEBHOOK_PATH, mode, args.topic)
    if not args.no_api:
        logger.info("tds web: admin API, dashboard and /metrics on http://%s:%d (reads %s)",
                    admin_host, admin_port,
                    "open" if settings.api_open_reads else "need the bearer token")
    serve(listeners, lingering_time=_LINGER_S,
          access_log=logging.getLogger("aiohttp.access") if args.access_log else None)
    return 0
