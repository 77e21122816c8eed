"""`tds dlq list|retry`: the dead-letter topic, read and sent back on request."""

from __future__ import annotations

import argparse
from typing import Any

import orjson

from tds.settings import Settings


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("dlq", help="list dead letters, or send some or all back")
    parser.add_argument("--topic", default="tds.deadletter", help="the dead-letter topic")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="print dead letters, oldest first")
    listing.add_argument("--limit", type=int, default=None)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    retry = actions.add_parser("retry", help="send dead letters back to where they failed")
    retry.add_argument("ids", nargs="*", metavar="ID",
                       help="partition:offset (as `list` shows) or the event's ce_id")
    retry.add_argument("--all", action="store_true", help="every dead letter in the topic")
    retry.add_argument("--reset", action="store_true",
                       help="forget past attempts: give them the whole retry chain again")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """List or retry; exit 1 when an id names no dead letter."""
    from consumers.deadletters import read_dead_letters, retry_dead_letters

    letters = read_dead_letters(settings.kafka, args.topic)
    if args.action == "list":
        for letter in letters[: args.limit] if args.limit else letters:
            origin = letter.state.origin
            row = {
                "id": letter.id, "event_id": letter.event_id, "stage": letter.stage,
                "reason": letter.reason, "attempts": letter.state.attempt,
                "origin": f"{origin.topic}[{origin.partition}]@{origin.offset}"
                if origin else None,
                "key": letter.key.decode(errors="replace") if letter.key else None,
                "error_class": letter.state.error_class,
                "error": letter.state.error_message,
                "first_failure_at": letter.state.first_failure_at.isoformat()
                if letter.state.first_failure_at else None,
            }
            if args.json:
                print(orjson.dumps(row).decode())
            else:
                print(f"{row['id']:>10}  {row['reason'] or '?':9}  {row['origin'] or '-'}  "
                      f"{row['key'] or '-'}  {row['error_class']}: {row['error']}")
        if not args.json:
            print(f"{len(letters)} dead letter(s) in {args.topic}")
        return 0
    if args.all == bool(args.ids):
        print("tds dlq retry: give ids, or --all (not both)")
        return 2
    chosen = letters if args.all else [d for d in letters if any(d.matches(i) for i in args.ids)]
    unknown = [i for i in args.ids if not any(d.matches(i) for d in letters)]
    sent = retry_dead_letters(settings.kafka, chosen, deadletter_topic=args.topic,
                              reset=args.reset)
    print(f"sent back {len(sent)} dead letter(s)" + (f": {', '.join(sent)}" if sent else ""))
    for wanted in unknown:
        print(f"no dead letter {wanted} in {args.topic}")
    return 1 if unknown else 0
