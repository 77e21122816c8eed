"""Errors of the consumer runtimes."""

from __future__ import annotations

from tds.errors import TDSError


class ConsumerError(TDSError):
    """A consumer runtime cannot go on (Kafka refused it, offsets cannot be loaded)."""


class Fenced(ConsumerError):
    """Another process wrote offsets for a partition of this batch first: it owns them now.

    Raised from inside the batch's transaction, so nothing of the batch is committed.
    """

    retriable = True

    def __init__(self, group: str, partitions: list[tuple[str, int]]) -> None:
        self.group, self.partitions = group, partitions
        shown = ", ".join(f"{t}[{p}]" for t, p in partitions)
        super().__init__(f"group {group}: offsets of {shown} moved under us; re-reading them")


class StoreUnavailable(ConsumerError):
    """PostgreSQL could not be reached or aborted the transaction; the batch is retried."""

    retriable = True


class StoreSchemaError(ConsumerError):
    """PostgreSQL rejected a statement as wrong for its schema: run `tds migrate`."""


class RowRejected(ConsumerError):
    """PostgreSQL refused the data of one message; that message goes to the retry chain."""

    retriable = False

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        self.sqlstate = sqlstate
        super().__init__(message)
