"""`tds tail TOPIC`: print a topic's messages decoded (Avro → JSON lines), like kcat -C."""

from __future__ import annotations

import argparse
import sys
import uuid
from dataclasses import asdict
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

from schemas.cloudevents import header_map
from schemas.errors import CodecError
from schemas.events import decode_event
from tds.kafka import consumer_config
from tds.settings import Settings


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("tail", help="print a topic's messages decoded, one JSON per line")
    parser.add_argument("topic")
    parser.add_argument("--from-beginning", action="store_true",
                        help="start at the oldest message (default: only new ones)")
    parser.add_argument("-n", "--max-messages", type=int, default=0,
                        help="stop after this many messages (0: run until Ctrl-C)")
    parser.add_argument("--idle-exit-s", type=float, default=0.0,
                        help="stop when nothing arrives for this long (0: never)")
    parser.add_argument("--headers", action="store_true", help="include the headers")
    parser.set_defaults(handler=run)


def _default(value: object) -> Any:
    if isinstance(value, bytes | bytearray):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value.hex()
    return str(value)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Consume without a committed group (never moves anyone's offsets) and print."""
    consumer = Consumer(consumer_config(settings.kafka, f"tds-tail-{uuid.uuid4().hex[:8]}",
                                        **{"isolation.level": "read_uncommitted"}))
    metadata = consumer.list_topics(args.topic, timeout=10).topics.get(args.topic)
    if metadata is None or metadata.error is not None:
        print(f"tds tail: no topic {args.topic!r}", file=sys.stderr)
        return 1
    start = OFFSET_BEGINNING if args.from_beginning else OFFSET_END
    consumer.assign([TopicPartition(args.topic, p, start) for p in metadata.partitions])
    shown, idle = 0, 0.0
    try:
        while not args.max_messages or shown < args.max_messages:
            message = consumer.poll(0.5)
            if message is None:
                idle += 0.5
                if args.idle_exit_s and idle >= args.idle_exit_s:
                    break
                continue
            idle = 0.0
            if message.error() is not None:
                continue
            line: dict[str, Any] = {"partition": message.partition(), "offset": message.offset(),
                                    "key": message.key()}
            value = message.value() or b""
            try:
                event = decode_event(value, topic=args.topic, partition=message.partition(),
                                     offset=message.offset())
                line["type"] = type(event).__name__
                line["value"] = asdict(event)
            except CodecError as exc:
                line["undecodable"] = str(exc)
                line["value"] = value
            if args.headers:
                line["headers"] = header_map(message.headers())
            sys.stdout.write(orjson.dumps(line, default=_default).decode() + "\n")
            sys.stdout.flush()
            shown += 1
    finally:
        consumer.close()
    return 0
