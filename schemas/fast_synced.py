"""Read the leading fields of a `tds.entity.synced` value without decoding the record.

A replay keeps only the newest event of each record, so for most events it needs just
the identity and version that open the value: event id, op, org, entity type, entity
id, version_modified_at and version_offset, in schema order after the 10-byte
single-object header. Reading those by hand costs ~5 µs; a full fastavro decode with
logical types ~35-50 µs, which is then paid only for the events that win.

(Decoding whole values without fastavro's logical types and converting the decimal,
date and timestamp fields in Python was tried too: only ~6% faster, so not kept.)

Only writer schemas whose leading fields have this layout are read (`PrefixReader.read`
returns None for any other fingerprint); callers then decode in full with the codec. A
property test holds the reader to the codec.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.codec import MARKER, SchemaVersion, load_versions
from schemas.errors import CodecError

# The fields read, in writer-schema order; a schema whose first fields differ is refused.
PREFIX_FIELDS: tuple[tuple[str, str], ...] = (
    ("event_id", "string"), ("op", "string"), ("org_id", "string"),
    ("entity_type", "string"), ("entity_id", "string"),
    ("version_modified_at", "long"), ("version_offset", "long"),
)


@dataclass(frozen=True, slots=True)
class Prefix:
    """The identity and version of one event; `modified_us` is microseconds since the
    epoch (UTC), which orders exactly as the decoded `version_modified_at` does."""

    event_id: str
    op: str
    org_id: str
    entity_type: str
    entity_id: str
    modified_us: int
    version_offset: int

    @property
    def version(self) -> tuple[int, int, str]:
        """The projector's order of one record's events (see projections.model.version)."""
        return (self.modified_us, self.version_offset, self.event_id)


def _type_name(schema_type: object) -> str:
    if isinstance(schema_type, dict):
        return str(schema_type.get("type"))
    return str(schema_type)


def known_fingerprints(versions: list[SchemaVersion]) -> frozenset[bytes]:
    """Fingerprints of the kept entity_synced schemas whose leading fields match."""
    out = set()
    for version in versions:
        if version.family != "entity_synced":
            continue
        fields = version.schema.get("fields", [])[:len(PREFIX_FIELDS)]
        layout = tuple((f["name"], _type_name(f["type"])) for f in fields)
        if layout == PREFIX_FIELDS:
            out.add(version.fingerprint)
    return frozenset(out)


class PrefixReader:
    """Reads `Prefix`es of values written with one of the known schemas."""

    def __init__(self, versions: list[SchemaVersion] | None = None) -> None:
        self._known = known_fingerprints(load_versions() if versions is None else versions)

    def read(self, data: bytes) -> Prefix | None:
        """The prefix of `data`, or None when its schema is not one this reader knows.

        Raises CodecError when the bytes end early or a string is not UTF-8.
        """
        if len(data) < 10 or data[:2] != MARKER:
            raise CodecError("not Avro single-object encoded (bad marker)")
        if data[2:10] not in self._known:
            return None
        try:
            return _read(data)
        except (IndexError, UnicodeDecodeError) as exc:
            raise CodecError(f"corrupt entity_synced prefix: {exc!r}") from exc


def _read(data: bytes) -> Prefix:
    pos = 10
    strings: list[str] = []
    for _ in range(5):
        size, pos = _long(data, pos)
        end = pos + size
        if size < 0 or end > len(data):
            raise IndexError("string runs past the end of the value")
        strings.append(data[pos:end].decode())
        pos = end
    modified, pos = _long(data, pos)
    offset, pos = _long(data, pos)
    return Prefix(strings[0], strings[1], strings[2], strings[3], strings[4], modified, offset)


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """One Avro long (zig-zag varint) at `pos`; returns it and the next position."""
    byte = data[pos]
    pos += 1
    value = byte & 0x7F
    shift = 7
    while byte & 0x80:
        if shift > 63:
            raise IndexError("varint longer than 10 bytes")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
    return (value >> 1) ^ -(value & 1), pos

