"""`tds topics create|check|list`: the topic catalogue against the broker."""

from __future__ import annotations

import argparse
from typing import Any

from schemas.topics import catalogue
from tds.settings import Settings
from tds.topics import check, create_missing


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("topics", help="create missing topics or report drift")
    parser.add_argument("action", choices=("create", "check", "list"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Create, check or list; `check` exits 1 when the broker drifted from the catalogue."""
    specs = catalogue(settings.topic_partitions, settings.retry_max_attempts)
    if args.action == "list":
        for spec in specs:
            print(f"{spec.name:24} partitions={spec.partitions:<3} cleanup={spec.cleanup:8} "
                  f"retention.ms={spec.retention_ms:<12} {spec.doc}")
        return 0
    if args.action == "create":
        created = create_missing(settings.kafka, specs)
        print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))
    drift = check(settings.kafka, specs)
    for item in drift:
        print(f"drift: {item}")
    if not drift:
        print(f"all {len(specs)} topics match the catalogue")
    return 1 if drift else 0
