"""`tds relay`: deliver due retries back to the stage that failed."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from tds.logs import configure
from tds.metrics import Metrics, add_metrics_options, serve_metrics
from tds.settings import Settings


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("relay", help="deliver due retries (tds.retry.N) back to their stage")
    parser.add_argument("--group", default="tds-relay", help="consumer group of the relay")
    parser.add_argument("--retry-prefix", default="tds.retry.",
                        help="retry topics are PREFIX1..PREFIXN (N = TDS_RETRY_MAX_ATTEMPTS)")
    parser.add_argument("--route", action="append", default=[], metavar="ORIGIN=TOPIC",
                        help="deliver retries of ORIGIN to TOPIC instead (repeatable)")
    add_metrics_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Relay until SIGTERM or SIGINT."""
    from consumers.relay import Relay, RelayConfig

    configure(settings.log_level, settings.log_format, settings.secrets())
    routes = dict(route.split("=", 1) for route in args.route if "=" in route)
    topics = tuple(f"{args.retry_prefix}{level}"
                   for level in range(1, settings.retry_max_attempts + 1))
    if not topics:
        print("tds relay: TDS_RETRY_MAX_ATTEMPTS is 0, so there is nothing to relay")
        return 0
    metrics = Metrics.create()
    serve_metrics(args, metrics)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    relay = Relay(RelayConfig(settings.kafka, topics, group=args.group, routes=routes),
                  metrics=metrics)
    relay.run(stop)
    return 0
