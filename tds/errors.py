"""The root of every error TDS raises; each stage's errors.py subclasses it.

`TDSError` is defined in `schemas.errors`, beside the contracts, and imported from here:
the kernel's retry chain reads the contracts (headers, topic names), so the contracts
import nothing of the kernel, and the two packages form no cycle.
"""

from __future__ import annotations

from schemas.errors import TDSError

__all__ = ["DatabaseTLSError", "KafkaLoginError", "MigrationError", "ProvisionError",
           "SettingsError", "TDSError", "TopicError"]


class SettingsError(TDSError):
    """One or more environment variables are missing or malformed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))


class ProvisionError(TDSError):
    """A service (Kafka, PostgreSQL) could not be provisioned or reached."""


class MigrationError(TDSError):
    """A schema migration could not be applied."""


class TopicError(TDSError):
    """A Kafka topic could not be created or does not match the catalogue."""

    retriable = True


class DatabaseTLSError(TDSError):
    """PostgreSQL's TLS handshake was refused (certificate, CA or host name): a setting to fix."""


class KafkaLoginError(TDSError):
    """Kafka refused the TLS handshake or the SASL login: a setting to fix."""
