"""`tds produce TOPIC`: JSON lines in, Avro single-object values with CloudEvents headers out,
the mirror of `tds tail` (whose lines it reads back), so events can be re-driven by hand.

A line is `{"key": ..., "type": "Command", "value": {...}, "headers": {...}}`; `type` (or
`--type`) names the value's class, `headers` (optional) replace the generated ones of the
same name. `partition` and `offset` of `tds tail` lines are not used: the key decides
the partition. Every line is checked before the first is sent, so a bad line sends nothing.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Producer

from schemas.cloudevents import Headers, ce_headers, replace_headers
from schemas.codec import default_codec
from schemas.errors import CodecError, InvalidCommand
from schemas.events import Command, EntitySynced, RawEvent, SyncRunEvent
from schemas.json_values import from_json
from schemas.outbound import OutboundCommand, OutboundResult, validate_command
from schemas.topics import catalogue
from tds.kafka import producer_config
from tds.kafka_publisher import DeliveryCheck
from tds.settings import Settings

TYPES = {cls.__name__: cls.family for cls in (RawEvent, EntitySynced, SyncRunEvent, Command,
                                              OutboundCommand, OutboundResult)}
SOURCE = "/tds/cli/produce"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One encoded message, ready to send."""

    key: bytes | None
    value: bytes
    headers: Headers


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("produce", help="send JSON lines (as `tds tail` prints them) as "
                            "Avro values with CloudEvents headers")
    parser.add_argument("topic")
    parser.add_argument("--type", choices=sorted(TYPES), default=None,
                        help="class of lines that name none (default: each line's `type`)")
    parser.add_argument("--ce-type", default=None,
                        help="ce_type header (default: the line's, else the topic's own)")
    parser.add_argument("--source", default=SOURCE, help=f"ce_source header ({SOURCE})")
    parser.add_argument("--input", type=argparse.FileType("rb"), default=None,
                        help="read this file instead of standard input")
    parser.set_defaults(handler=run)


def _ce_type(topic: str, family: str, value: dict[str, Any], chosen: str | None) -> str:
    if chosen:
        return chosen
    if family == "sync_run":
        return f"tds.sync.{value.get('status')}"
    if family == "outbound_result":
        return f"tds.outbound.{value.get('status')}"
    own = {s.name: s.ce_types for s in catalogue()}.get(topic, ())
    if len(own) == 1:
        return own[0]
    raise ValueError(f"no ce_type for {topic}: pass --ce-type or a ce_type header")


def encode_line(line: bytes, *, topic: str, default_type: str | None, ce_type: str | None,
                source: str) -> Outgoing:
    """One JSON line as a message; ValueError names what is wrong."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("value"), dict):
        raise ValueError('expected {"key": ..., "value": {...}}')
    name = doc.get("type") or default_type
    if name not in TYPES:
        raise ValueError(f"type {name!r} is not one of {', '.join(sorted(TYPES))} "
                         "(give it in the line or with --type)")
    family, value = TYPES[name], doc["value"]
    key = doc.get("key")
    try:
        avro = from_json(default_codec(), family, value)
        if family == OutboundCommand.family:  # the writer's door, checked before sending
            command = validate_command(avro)
            avro = command.to_avro()
            key = command.key().decode() if key is None else key
        encoded = default_codec().encode(family, avro)
    except InvalidCommand as exc:
        raise ValueError(f"not a valid {name}: {exc.field}: {exc.reason}") from exc
    except (CodecError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a valid {name}: {exc}") from exc
    given = {str(k): str(v).encode() for k, v in (doc.get("headers") or {}).items()}
    chosen = ce_type or (given["ce_type"].decode() if "ce_type" in given else None)
    event_id = value.get("event_id") or value.get("command_id") or str(uuid.uuid4())
    headers = replace_headers(
        ce_headers(_ce_type(topic, family, value, chosen), source, event_id=str(event_id)),
        list(given.items()))
    return Outgoing(None if key is None else str(key).encode(), encoded, headers)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Check every line, then send them all and wait for every acknowledgement."""
    stream = args.input or sys.stdin.buffer
    messages: list[Outgoing] = []
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            messages.append(encode_line(line, topic=args.topic, default_type=args.type,
                                        ce_type=args.ce_type, source=args.source))
        except ValueError as exc:
            print(f"tds produce: line {number}: {exc}; nothing sent", file=sys.stderr)
            return 1
    producer = Producer(producer_config(settings.kafka))
    check = DeliveryCheck(producer, room_wait_s=0.5)
    for message in messages:
        check.produce(args.topic, message.value, message.key, headers=message.headers)
        producer.poll(0)
    missing = check.confirm(30)
    if missing is not None:
        failures = [str(e) for e in missing.errors]
        print(f"tds produce: {len(failures) + missing.left} of {len(messages)} message(s) not "
              f"acknowledged: {failures[:3]}", file=sys.stderr)
        return 1
    print(f"produced {len(messages)} message(s) to {args.topic}", file=sys.stderr)
    return 0
