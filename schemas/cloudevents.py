"""CloudEvents binary-mode Kafka headers (ce_*), so any consumer in any language can route."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

SPEC_VERSION = "1.0"
AVRO_CONTENT_TYPE = "application/avro"

# The element type confluent-kafka's produce() accepts.
Headers = list[tuple[str, str | bytes]]


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """The CloudEvents attributes read back from a message's headers."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str | None = None
    datacontenttype: str | None = None


def ce_headers(
    ce_type: str,
    source: str,
    *,
    event_id: str | None = None,
    time: datetime | None = None,
    subject: str | None = None,
    datacontenttype: str = AVRO_CONTENT_TYPE,
) -> Headers:
    """Build the ce_* headers of one message."""
    when = (time or datetime.now(UTC)).astimezone(UTC)
    headers: Headers = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", (event_id or str(uuid.uuid4())).encode()),
        ("ce_source", source.encode()),
        ("ce_type", ce_type.encode()),
        ("ce_time", when.isoformat().replace("+00:00", "Z").encode()),
        ("content-type", datacontenttype.encode()),
    ]
    if subject is not None:
        headers.append(("ce_subject", subject.encode()))
    return headers


def header_map(headers: Sequence[tuple[str, bytes | str | None]] | None) -> dict[str, bytes]:
    """Headers as a dict (the last value of a repeated name wins)."""
    out: dict[str, bytes] = {}
    for name, value in headers or ():
        if value is None:
            continue
        out[name] = value.encode() if isinstance(value, str) else value
    return out


def replace_headers(
    headers: Sequence[tuple[str, bytes | str | None]] | None,
    updates: Sequence[tuple[str, str | bytes]],
) -> Headers:
    """Return `headers` with every name in `updates` replaced (not appended)."""
    names = {name for name, _ in updates}
    kept: Headers = [
        (name, value) for name, value in headers or () if name not in names and value is not None
    ]
    return kept + list(updates)


def parse_ce(headers: Sequence[tuple[str, bytes | str | None]] | None) -> CloudEvent:
    """Read the ce_* attributes; raises ValueError naming a missing one."""
    found = header_map(headers)
    missing = [n for n in ("ce_id", "ce_source", "ce_type", "ce_time") if n not in found]
    if missing:
        raise ValueError(f"missing CloudEvents headers: {', '.join(missing)}")
    subject = found.get("ce_subject")
    content = found.get("content-type")
    return CloudEvent(
        id=found["ce_id"].decode(),
        source=found["ce_source"].decode(),
        type=found["ce_type"].decode(),
        time=datetime.fromisoformat(found["ce_time"].decode().replace("Z", "+00:00")),
        subject=subject.decode() if subject is not None else None,
        datacontenttype=content.decode() if content is not None else None,
    )
