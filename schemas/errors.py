"""Errors of the contracts package, and the root of every TDS error.

The root lives here, not in the kernel, so the contracts import nothing of the kernel
(which reads them); everything else imports it as `tds.errors.TDSError`.
"""

from __future__ import annotations


class TDSError(Exception):
    """Base of every TDS error; `retriable` tells a consumer loop to retry or dead-letter."""

    retriable: bool = False


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


class InvalidCommand(CodecError):
    """A write-back command that breaks the contract; `field` names what is wrong."""

    def __init__(
        self,
        field: str,
        reason: str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.field, self.reason = field, reason
        super().__init__(reason, topic=topic, partition=partition, offset=offset)
