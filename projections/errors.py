"""Errors of the projections package."""

from __future__ import annotations

from tds.errors import TDSError


class ProjectionError(TDSError):
    """A read model cannot be written for a reason no retry will fix (schema, setup)."""


class UnknownModelError(ProjectionError):
    """A read model name that is not in the catalogue."""


class UnknownEntityError(ProjectionError):
    """An event names an entity type no read model knows; it goes to the dead letters."""


class RebuildError(ProjectionError):
    """A replay or verify could not build or swap its tables."""
