"""Command line: python -m simulator (and `tds sim`) start a simulator on loopback."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import replace

from aiohttp import web

from simulator.app import build_app
from simulator.config import (
    STOCK_SHAPES,
    WEBHOOK_FORMATS,
    DataConfig,
    LimitConfig,
    OrgConfig,
    SimConfig,
    WebhookConfig,
    check_webhook_url,
)
from simulator.errors import ConfigError

logger = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    """Return the argument parser."""
    d, lim, w = DataConfig(), LimitConfig(), WebhookConfig()
    p = argparse.ArgumentParser(prog="simulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=d.seed)
    for name in ("items", "locations", "contacts", "salesorders", "invoices"):
        p.add_argument(f"--{name}", type=int, default=getattr(d, name))
    for name in ("customerpayments", "creditnotes", "bills", "vendorpayments"):
        p.add_argument(f"--{name}", type=int, default=None, help="default: proportional")
    p.add_argument("--stock-shape", choices=STOCK_SHAPES, default=d.stock_shape)
    p.add_argument("--hostile-fraction", type=float, default=d.hostile_fraction,
                   help="share of records with hostile strings (script tags, SQL, quotes)")
    p.add_argument("--org-id", default=OrgConfig().organization_id)
    p.add_argument("--webhook-url", default=None)
    p.add_argument("--webhook-format", choices=WEBHOOK_FORMATS, default=w.format)
    p.add_argument("--webhook-method", choices=("POST", "PUT", "DELETE"), default=w.method)
    # From the environment by default, so a secret stays off the process list.
    p.add_argument("--webhook-secret", default=os.environ.get("ZOHO_WEBHOOK_SECRET") or None,
                   help="key webhooks are signed with (default: $ZOHO_WEBHOOK_SECRET)")
    p.add_argument("--allow-remote-webhooks", action="store_true")
    p.add_argument("--change-rate", type=float, default=0.0, help="changes per second")
    p.add_argument("--no-webhook-fraction", type=float, default=0.1)
    p.add_argument("--duplicate-rate", type=float, default=w.duplicate_rate)
    p.add_argument("--reorder-rate", type=float, default=w.reorder_rate)
    p.add_argument("--drop-rate", type=float, default=w.drop_rate)
    p.add_argument("--delay-ms", type=int, default=w.delay_ms)
    p.add_argument("--per-minute", type=int, default=lim.per_minute)
    p.add_argument("--daily", type=int, default=lim.daily)
    p.add_argument("--concurrency", type=int, default=lim.concurrency)
    p.add_argument("--log-level", default="INFO")
    return p


def config_from(args: argparse.Namespace) -> SimConfig:
    """Turn parsed arguments into a SimConfig (validated later by build_app)."""
    data = DataConfig(
        seed=args.seed,
        items=args.items,
        locations=args.locations,
        contacts=args.contacts,
        salesorders=args.salesorders,
        invoices=args.invoices,
        customerpayments=args.customerpayments,
        creditnotes=args.creditnotes,
        bills=args.bills,
        vendorpayments=args.vendorpayments,
        stock_shape=args.stock_shape,
        hostile_fraction=args.hostile_fraction,
    )
    webhooks = replace(
        WebhookConfig(),
        url=args.webhook_url,
        format=args.webhook_format,
        method=args.webhook_method,
        secret=args.webhook_secret,
        allow_remote=args.allow_remote_webhooks,
        duplicate_rate=args.duplicate_rate,
        reorder_rate=args.reorder_rate,
        drop_rate=args.drop_rate,
        delay_ms=args.delay_ms,
    )
    return SimConfig(
        data=data,
        org=replace(OrgConfig(), organization_id=args.org_id),
        limits=LimitConfig(
            per_minute=args.per_minute, daily=args.daily, concurrency=args.concurrency
        ),
        webhooks=webhooks,
        change_rate=args.change_rate,
        no_webhook_fraction=args.no_webhook_fraction,
    )


async def serve(config: SimConfig, host: str, port: int) -> None:
    """Generate the data, listen, print the address and run until SIGINT or SIGTERM."""
    started = time.perf_counter()
    app = build_app(config)
    logger.info("generated the data set in %.1f s", time.perf_counter() - started)
    # Short: a hung (timeout-fault) handler must not hold up shutdown for a minute.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    print(f"simulator listening on http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on this loop
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Run the simulator; return the process exit code."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    try:
        if args.webhook_url:
            check_webhook_url(args.webhook_url, args.allow_remote_webhooks)
        config = config_from(args)
        asyncio.run(serve(config, args.host, args.port))
    except ConfigError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
