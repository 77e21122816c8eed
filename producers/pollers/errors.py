"""Errors of the pollers."""

from __future__ import annotations

from tds.errors import TDSError


class PollerError(TDSError):
    """Root of every poller error."""


class PublishError(PollerError):
    """Kafka did not acknowledge a raw or run event (the run fails; cursors stay put)."""

    retriable = True


class RunConflict(PollerError):
    """The run is already claimed (a redelivered command or a slot fired elsewhere)."""
