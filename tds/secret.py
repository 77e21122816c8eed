"""A string that never shows itself in repr, str, logs or JSON by accident."""

from __future__ import annotations

from typing import Final

_MASK: Final = "********"


class Secret:
    """Wrap a credential; call `reveal()` at the one place that needs the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the wrapped value."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({_MASK if self._value else ''!r})"

    __str__ = __repr__
