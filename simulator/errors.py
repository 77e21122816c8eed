"""The simulator's exception hierarchy."""

from __future__ import annotations


class SimError(Exception):
    """Root of every error the simulator raises."""


class ConfigError(SimError, ValueError):
    """A setting is missing, malformed or out of range."""


class ControlError(SimError):
    """A request to the /_sim/ control API is malformed."""

    def __init__(self, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class ZohoError(SimError):
    """An API failure rendered as a Zoho JSON body with an HTTP status."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"HTTP {status} code {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def invalid_value(param: str) -> ZohoError:
    """Return Zoho's error for a query parameter it cannot use (HTTP 400, code 2)."""
    return ZohoError(400, 2, f"Invalid value passed for {param}")
