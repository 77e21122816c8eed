"""The mixin every Avro-backed dataclass shares: to and from the codec's dicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, ClassVar, Self

from schemas.codec import Codec, default_codec


class AvroValue:
    """Mixin: a frozen dataclass that is one value of an Avro family."""

    family: ClassVar[str]

    def to_avro(self) -> dict[str, Any]:
        """The dict fastavro writes (shallow: fastavro only reads it, and asdict's deep copy
        of the body cost more than the encoding on the webhook path)."""
        return {f.name: getattr(self, f.name)
                for f in fields(self)}  # type: ignore[arg-type]  # subclasses are dataclasses

    @classmethod
    def from_avro(cls, value: Mapping[str, Any]) -> Self:
        """Build from a decoded dict (fields of newer readers are filled by Avro defaults)."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]  # subclasses are dataclasses
        return cls(**{k: v for k, v in value.items() if k in names})

    def encode(self, codec: Codec | None = None) -> bytes:
        """Avro single-object bytes of this value."""
        return (codec or default_codec()).encode(self.family, self.to_avro())
