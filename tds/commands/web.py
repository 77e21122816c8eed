"""`tds web`: the web process (the Zoho webhook gateway; the admin API mounts here too)."""

from __future__ import annotations

import argparse
import gc
import logging
from typing import Any

from aiohttp import web

from api.errors import error_middleware
from api.wiring import install as install_api
from producers.publisher import Publisher
from producers.webhook.app import WEBHOOK_PATH
from producers.webhook.app import add_routes as add_webhook_routes
from producers.webhook.auth import Authenticator
from schemas.topics import RAW_REALTIME
from tds.kafka import producer_config
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
    parser = sub.add_parser("web", help="serve the Zoho webhook gateway (POST "
                            f"{WEBHOOK_PATH}) on one port")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on "
                        "(default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
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
                        help="serve only the webhook (no admin API, dashboard or /metrics)")
    parser.add_argument("--access-log", action="store_true",
                        help="log every request (off by default: it costs throughput)")
    parser.set_defaults(handler=run)


def build_app(settings: Settings, *, publisher: Publisher, metrics: Metrics,
              topic: str = RAW_REALTIME, with_api: bool = True) -> web.Application:
    """The web application: every stage's routes, the publisher started and flushed with it."""
    app = web.Application(middlewares=[error_middleware] if with_api else [])
    add_webhook_routes(app, settings=settings, publisher=publisher, metrics=metrics,
                       topic=topic)
    if with_api:
        # The admin API, BFF, dashboard and /metrics share the process and its publisher.
        install_api(app, settings=settings, sink=publisher, metrics=metrics)

    async def start_publisher(_: web.Application) -> None:
        await publisher.start()

    async def close_publisher(_: web.Application) -> None:
        await publisher.close()

    app.on_startup.append(start_publisher)
    app.on_cleanup.append(close_publisher)
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
    app = build_app(settings, publisher=publisher, metrics=metrics, topic=args.topic,
                    with_api=not args.no_api)
    app.on_startup.append(_freeze_heap)
    mode = Authenticator.from_settings(settings).mode
    if mode == "refuse":
        logger.warning("no ZOHO_WEBHOOK_SECRET and TDS_WEBHOOK_ALLOW_UNSIGNED is false: every "
                       "webhook will be refused with 401")
    elif mode == "unsigned":
        logger.warning("accepting unauthenticated webhooks (TDS_WEBHOOK_ALLOW_UNSIGNED=true)")
    logger.info("tds web: webhooks on http://%s:%d%s (auth %s) to topic %s", args.host,
                args.port, WEBHOOK_PATH, mode, args.topic)
    web.run_app(app, host=args.host, port=args.port, print=None,
                access_log=logging.getLogger("aiohttp.access") if args.access_log else None,
                lingering_time=_LINGER_S)
    return 0
