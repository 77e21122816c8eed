"""Build webhook requests: default JSON, JSONString form and raw templates, signed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from simulator.config import WebhookConfig, WebhookRule
from simulator.entities import ENTITIES, HOOK_TO_PATH
from simulator.signing import SIGNATURE_HEADER, sign

JSON_TYPE = "application/json;charset=UTF-8"
FORM_TYPE = "application/x-www-form-urlencoded"
_PLACEHOLDER = re.compile(r"\$\{JSONString\}|\$\{([A-Za-z_]+)\.([A-Za-z0-9_]+)\}")


@dataclass(frozen=True)
class HookEvent:
    """A change that a workflow rule may turn into webhooks."""

    entity: str  # workflow entity, e.g. "customerpayment"
    action: str  # created | edited | deleted
    record_id: str
    snapshot: dict[str, Any]  # the full record as GET returns it (last state for deletes)
    change_seq: int


@dataclass(frozen=True)
class Outgoing:
    """One HTTP request to send, with what it is about (for stats and tests)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    entity: str
    action: str
    record_id: str
    change_seq: int


def default_template(entity: str, action: str) -> str:
    """Return the raw body used when no template is set (entity and action are literals)."""
    spec = ENTITIES[HOOK_TO_PATH[entity]]
    upper = entity.upper()
    return (
        f'{{"entity":"{entity}","action":"{action}",'
        f'"id":"${{{upper}.{spec.id_field.upper()}}}",'
        f'"last_modified_time":"${{{upper}.LAST_MODIFIED_TIME}}"}}'
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def fill_template(template: str, entity: str, record: dict[str, Any]) -> str:
    """Fill ${ENTITY.FIELD} (verbatim, unescaped) and ${JSONString} placeholders."""
    spec = ENTITIES[HOOK_TO_PATH[entity]]
    names = {entity.upper(), spec.hook_key.upper(), spec.single_key.upper()}
    payload = orjson.dumps({spec.hook_key: record}).decode()

    def replace(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return payload
        if m.group(1).upper() not in names:
            return m.group(0)
        return _text(record.get(m.group(2).lower()))

    # One pass, so placeholder text inside substituted values is never expanded again.
    return _PLACEHOLDER.sub(replace, template)


def build_request(cfg: WebhookConfig, rule: WebhookRule, event: HookEvent, url: str) -> Outgoing:
    """Return the request a rule sends for an event."""
    spec = ENTITIES[HOOK_TO_PATH[event.entity]]
    record = event.snapshot
    if event.action == "deleted" and not cfg.include_snapshot_on_delete:
        record = {spec.id_field: event.record_id}
    fmt = rule.format or cfg.format
    form: list[tuple[str, str]] = []
    if fmt == "raw":
        template = rule.raw_template or cfg.raw_template
        body = fill_template(
            template or default_template(event.entity, event.action), event.entity, record
        ).encode()
        content_type = rule.content_type or cfg.raw_content_type
    elif fmt == "form":
        form = [("JSONString", orjson.dumps({spec.hook_key: record}).decode())]
        body = urlencode(form).encode()
        content_type = FORM_TYPE
    else:
        body = orjson.dumps({spec.hook_key: record})
        content_type = rule.content_type or JSON_TYPE
    target = urlsplit(url)
    query = parse_qsl(target.query, keep_blank_values=True)
    query += [*cfg.query, *rule.query]
    if cfg.rule_query:
        query += [("entity", event.entity), ("action", event.action)]
    headers = [*cfg.headers, *rule.headers, ("Content-Type", content_type)]
    if cfg.secret:
        headers.append((SIGNATURE_HEADER, sign(cfg.secret, query, form, body)))
    return Outgoing(
        method=rule.method or cfg.method,
        url=urlunsplit(target._replace(query=urlencode(query))),
        headers=tuple(headers),
        body=body,
        entity=event.entity,
        action=event.action,
        record_id=event.record_id,
        change_seq=event.change_seq,
    )
