"""Errors of the contracts package."""

from __future__ import annotations

from tds.errors import TDSError


class CodecError(TDSError):
    """Bytes that are not a value of any known schema (corrupt or unknown fingerprint)."""

    retriable = False

    def __init__(
        self,
        message: str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset
        where = ""
        if topic is not None:
            where = f" at {topic}[{partition}]@{offset}"
        super().__init__(message + where)


class UnknownSchemaError(CodecError):
    """The value's fingerprint names no schema kept in schemas/avro/."""
