"""Apply partial JSON updates from the control API to frozen settings."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import asdict, fields, replace
from typing import Any, Literal, TypeVar, get_args, get_origin

from simulator.config import WebhookConfig, WebhookRule, all_rules
from simulator.errors import ControlError

T = TypeVar("T")
Pairs = tuple[tuple[str, str], ...]


def _coerce(name: str, hint: Any, value: Any) -> Any:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        inner = [o for o in options if o is not type(None)]
        return _coerce(name, inner[0], value)
    if origin is Literal:
        if value not in get_args(hint):
            raise ControlError(f"{name}={value!r} is not one of {list(get_args(hint))}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ControlError(f"{name} must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ControlError(f"{name} must be a whole number")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ControlError(f"{name} must be a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ControlError(f"{name} must be a string")
        return value
    raise ControlError(f"{name} cannot be set through the control API")


def merge(current: T, updates: Any, special: dict[str, Callable[[Any], Any]] | None = None) -> T:
    """Return current with the JSON object updates applied, each value type-checked."""
    if not isinstance(updates, dict):
        raise ControlError("the body must be a JSON object")
    hints = typing.get_type_hints(type(current))
    special = special or {}
    changed: dict[str, Any] = {}
    for key, value in updates.items():
        if key not in hints:
            raise ControlError(f"unknown setting {key!r}", {"known": sorted(hints)})
        changed[key] = special[key](value) if key in special else _coerce(key, hints[key], value)
    return replace(current, **changed)  # type: ignore[type-var]  # T is always a dataclass


def pairs(value: Any) -> Pairs:
    """Accept {"k": "v"} or [["k", "v"], ...] and return string pairs."""
    items = value.items() if isinstance(value, dict) else value
    try:
        out = tuple((str(k), str(v)) for k, v in items)
    except (TypeError, ValueError):
        raise ControlError("expected an object or a list of [name, value] pairs") from None
    return out


def _rule(value: Any) -> WebhookRule:
    if isinstance(value, str) and "." in value:  # "item.created" shorthand
        entity, action = value.split(".", 1)
        return WebhookRule(entity, action)
    if not isinstance(value, dict) or "entity" not in value or "action" not in value:
        raise ControlError('a rule is "entity.action" or {"entity": ..., "action": ...}')
    base = WebhookRule(str(value["entity"]), str(value["action"]))
    rest = {k: v for k, v in value.items() if k not in ("entity", "action")}
    return merge(base, rest, {"headers": pairs, "query": pairs})


def rules(value: Any) -> tuple[WebhookRule, ...]:
    """Accept "all", or a list of rules as strings or objects."""
    if value == "all":
        return all_rules()
    if not isinstance(value, list):
        raise ControlError('rules must be "all" or a list')
    return tuple(_rule(v) for v in value)


def _schedule(value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        raise ControlError("retry_schedule_s must be a list of seconds")
    return tuple(float(v) for v in value)


WEBHOOK_SPECIAL: dict[str, Callable[[Any], Any]] = {
    "headers": pairs,
    "query": pairs,
    "rules": rules,
    "retry_schedule_s": _schedule,
}


def merge_webhooks(current: WebhookConfig, updates: Any) -> WebhookConfig:
    """Apply a webhook settings update; retry_schedule is accepted for retry_schedule_s."""
    if isinstance(updates, dict) and "retry_schedule" in updates:
        updates = {**updates, "retry_schedule_s": updates["retry_schedule"]}
        del updates["retry_schedule"]
    return merge(current, updates, WEBHOOK_SPECIAL)


def describe(settings: Any) -> dict[str, Any]:
    """Return settings as JSON, secrets replaced by whether they are set."""
    out = asdict(settings)
    for f in fields(settings):
        if not f.repr:
            out[f.name] = None
            out[f"{f.name}_set"] = getattr(settings, f.name) is not None
    return out
