"""`tds up`: the whole system as one supervised process tree, for a laptop or a demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import tempfile
from typing import Any

from schemas.topics import catalogue
from tds.commands.migrate import MIGRATIONS
from tds.commands.web import add_listener_arguments, listen_addresses
from tds.logs import configure
from tds.migrate import apply
from tds.settings import Settings
from tds.supervisor import ChildSpec, Supervisor
from tds.topics import create_missing

logger = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser(
        "up", help="run web, workers, projector, relay, poller, image cache and writer, "
        "supervised")
    add_listener_arguments(parser)  # passed on to `tds web`
    parser.add_argument("--workers", type=int, default=None,
                        help="stream workers (default: TDS_WORKER_COUNT)")
    parser.add_argument("--engine", choices=("faust", "batched"), default=None,
                        help="the workers' stream engine (default: TDS_STREAM_ENGINE, faust)")
    parser.add_argument("--projectors", type=int, default=1, help="projector processes")
    parser.add_argument("--no-poller", action="store_true",
                        help="no Zoho poller (webhooks only; no periodic or manual syncs)")
    parser.add_argument("--no-images", action="store_true", help="no image cache")
    parser.add_argument("--no-writer", action="store_true",
                        help="no write-back writer (commands wait in tds.outbound)")
    parser.set_defaults(handler=run)


def children(args: argparse.Namespace, settings: Settings) -> list[ChildSpec]:
    """The process tree `tds up` supervises."""
    (hook_host, hook_port), (admin_host, admin_port) = listen_addresses(args, settings)
    specs = [ChildSpec("web", ("web", "--host", admin_host, "--port", str(admin_port),
                               "--webhook-host", hook_host, "--webhook-port", str(hook_port)))]
    workers = args.workers if args.workers is not None else settings.worker_count
    # Workers keep their state in memory, rebuilt from changelog topics: no local folder.
    engine = args.engine or settings.stream_engine
    specs += [ChildSpec(f"worker-{i}", ("worker", "--engine", engine))
              for i in range(1, workers + 1)]
    specs += [ChildSpec(f"projector-{i}", ("project",)) for i in range(1, args.projectors + 1)]
    specs.append(ChildSpec("relay", ("relay",)))
    if not args.no_poller:
        specs.append(ChildSpec("poller", ("poll",)))
    if not args.no_images:
        specs.append(ChildSpec("images", ("images",)))
    if not args.no_writer:
        specs.append(ChildSpec("writer", ("writer",)))
    return specs


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Prepare topics and tables, then supervise the children until SIGTERM/SIGINT."""
    configure(settings.log_level, settings.log_format, settings.secrets())
    created = create_missing(settings.kafka,
                             catalogue(settings.topic_partitions, settings.retry_max_attempts))
    if created:
        logger.info("created topics: %s", ", ".join(created))
    asyncio.run(apply(settings.dsn, MIGRATIONS))
    metrics_dir = tempfile.mkdtemp(prefix="tds-metrics-")
    # Every child writes its metrics here; the web process serves them all on /metrics.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    specs = children(args, settings)
    (hook_host, hook_port), (admin_host, admin_port) = listen_addresses(args, settings)
    logger.info("dashboard: http://%s:%d/tds-admin", admin_host, admin_port)
    logger.info("Zoho webhooks: http://%s:%d/api/webhooks/zoho", hook_host, hook_port)
    try:
        return Supervisor(specs).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
