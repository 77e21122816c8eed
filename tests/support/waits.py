"""Bounded waits on a condition: tests wait for what they need, never for a guessed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout_s: float, *, what: str,
               interval_s: float = 0.05) -> T:
    """Return the predicate's first truthy answer; fail naming `what` after `timeout_s`.

    The timeout only bounds a hung test: nothing is asserted about how long it took.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        answer = predicate()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so after {timeout_s} s (last answer {answer!r})")
        time.sleep(interval_s)


@overload
async def until(predicate: Callable[[], Awaitable[T]], timeout_s: float, *, what: str,
                interval_s: float = ...) -> T: ...


@overload
async def until(predicate: Callable[[], T], timeout_s: float, *, what: str,
                interval_s: float = ...) -> T: ...


async def until(predicate: Callable[[], Any], timeout_s: float, *, what: str,
                interval_s: float = 0.05) -> Any:
    """`wait_until` for the event loop: the predicate may be a coroutine function."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = predicate()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so after {timeout_s} s (last answer {answer!r})")
        await asyncio.sleep(interval_s)
