"""Errors of the stream workers; `retriable` picks the retry chain or the dead letters."""

from __future__ import annotations

from tds.errors import TDSError


class StreamsError(TDSError):
    """Base of every error raised by the stream workers."""


class InvalidEvent(StreamsError):
    """A raw event that can never succeed (bad body, missing or mistyped field)."""

    retriable = False

    def __init__(self, reason: str, *, entity_type: str | None = None,
                 field: str | None = None) -> None:
        self.reason, self.entity_type, self.field = reason, entity_type, field
        where = f"{entity_type}: " if entity_type else ""
        super().__init__(where + reason)


class FetchFailed(StreamsError):
    """The Zoho client could not fetch the record a ping names; retried later."""

    retriable = True


class ConfigError(StreamsError):
    """The worker's topics or settings cannot work together (e.g. partition counts)."""


class StateError(StreamsError):
    """A state partition could not be restored from its changelog."""


class DeliveryFailed(StreamsError):
    """Kafka did not acknowledge an output; the worker stops before committing past it."""
