"""Avro single-object encoding (marker, CRC-64-AVRO fingerprint, body) with fastavro.

Every `.avsc` kept in `schemas/avro/` is a writer schema we can decode; the newest version
of each family (`name.vN.avsc`) is the reader schema, so old values upgrade on read.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.errors import CodecError, UnknownSchemaError

MARKER = b"\xc3\x01"
SCHEMA_DIR = Path(__file__).parent / "avro"
_FILE = re.compile(r"^(?P<family>[a-z_]+)\.v(?P<version>\d+)\.avsc$")


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One kept schema file: its family, version, parsed schema and fingerprint."""

    family: str
    version: int
    schema: Any
    fingerprint: bytes


def load_versions(folder: Path = SCHEMA_DIR) -> list[SchemaVersion]:
    """Parse every `family.vN.avsc` in `folder`, oldest version first."""
    versions = []
    for path in sorted(folder.glob("*.avsc")):
        match = _FILE.match(path.name)
        if not match:
            raise CodecError(f"schema file {path.name} is not named family.vN.avsc")
        raw = json.loads(path.read_text())
        parsed = fastavro.parse_schema(raw, _write_hint=False)
        canonical = to_parsing_canonical_form(parsed)
        versions.append(
            SchemaVersion(
                family=match["family"],
                version=int(match["version"]),
                # The hinted parse: without fastavro's parsed marker every read and write
                # parses the schema again (4x slower); the fingerprint uses the plain one.
                schema=fastavro.parse_schema(raw),
                fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
            )
        )
    return sorted(versions, key=lambda v: (v.family, v.version))


class Codec:
    """Encode with the newest schema of a family; decode any kept version by fingerprint."""

    def __init__(self, versions: list[SchemaVersion]) -> None:
        self._by_fp = {v.fingerprint: v for v in versions}
        self._latest: dict[str, SchemaVersion] = {}
        for v in versions:
            self._latest[v.family] = v  # sorted by version, so the last one wins

    def families(self) -> list[str]:
        """Names of the schema families this codec knows."""
        return sorted(self._latest)

    def latest(self, family: str) -> SchemaVersion:
        """The newest version of `family`."""
        try:
            return self._latest[family]
        except KeyError:
            raise UnknownSchemaError(f"no schema family {family!r}") from None

    def encode(self, family: str, value: dict[str, Any]) -> bytes:
        """Write `value` with the newest schema of `family`."""
        version = self.latest(family)
        out = io.BytesIO()
        out.write(MARKER)
        out.write(version.fingerprint)
        try:
            fastavro.schemaless_writer(out, version.schema, value)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CodecError(f"cannot encode {family}: {exc}") from exc
        return out.getvalue()

    def decode(
        self,
        data: bytes,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Return (family, value) read with the newest schema of the writer's family."""
        if len(data) < 10 or data[:2] != MARKER:
            raise CodecError("not Avro single-object encoded (bad marker)",
                             topic=topic, partition=partition, offset=offset)
        writer = self._by_fp.get(data[2:10])
        if writer is None:
            raise UnknownSchemaError(f"unknown schema fingerprint {data[2:10].hex()}",
                                     topic=topic, partition=partition, offset=offset)
        reader = self._latest[writer.family]
        buf = io.BytesIO(data)
        buf.seek(10)
        try:
            value = fastavro.schemaless_reader(buf, writer.schema, reader.schema)
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise CodecError(f"corrupt {writer.family} value: {exc!r}",
                             topic=topic, partition=partition, offset=offset) from exc
        if buf.tell() != len(data):
            raise CodecError(f"{len(data) - buf.tell()} trailing bytes after value",
                             topic=topic, partition=partition, offset=offset)
        return writer.family, value  # type: ignore[return-value]  # a record schema reads as a dict


@cache
def default_codec() -> Codec:
    """The codec over the schemas shipped in this package."""
    return Codec(load_versions())
