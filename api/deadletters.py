"""Dead letters: a filterable page, and retry (one, some or all) back to their stage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from aiohttp import web

from api import queries
from api.auth import require_token
from api.commands import read_json
from api.context import API, ApiContext
from api.errors import BadRequest
from api.kafka_state import KafkaStateError
from api.params import choice_param, int_param, text_param
from api.render import json_response
from consumers.deadletters import DeadLetter, retry_route
from schemas.cloudevents import Headers
from schemas.events import ENTITY_TYPES
from tds.retry import read_state

STATUSES = ("pending", "retried", "resolved")
MAX_RETRY = 10_000


async def list_dead(request: web.Request) -> web.Response:
    """GET /api/tds/deadletter?limit&offset&status&stage&entity_type&error_class."""
    ctx = request.app[API]
    limit = int_param(request, "limit", 50, 1, 500)
    offset = int_param(request, "offset", 0, 0, 10_000_000)
    async with ctx.db().acquire() as conn:
        total, items = await queries.list_dead_letters(
            conn, limit=limit, offset=offset, status=choice_param(request, "status", STATUSES),
            stage=text_param(request, "stage", 50),
            entity_type=choice_param(request, "entity_type", ENTITY_TYPES),
            error_class=text_param(request, "error_class", 200))
    return json_response({"total": total, "limit": limit, "offset": offset, "items": items})


async def retry(request: web.Request) -> web.Response:
    """POST /api/tds/deadletter/retry {"ids": [...]} or {"all": true}.

    Each pending dead letter goes back, key and value bytes unchanged, to the topic it
    first failed on, with its original ce_type; the row turns `retried` once Kafka acked.
    Its retry headers stay, so one more failure sends it straight back here.
    """
    ctx = request.app[API]
    require_token(request, ctx.settings.api_token)
    body = await read_json(request)
    ids = body.get("ids")
    listed = isinstance(ids, list) and bool(ids) and all(
        isinstance(i, str) and len(i) < 300 and "\x00" not in i for i in ids)
    everything = body.get("all") is True
    if listed and everything:
        # Ambiguous: retrying everything would silently ignore the list the caller sent.
        raise BadRequest('send either {"ids": [...]} or {"all": true}, not both')
    if everything:
        return await _retry(ctx, None)
    if listed:
        return await _retry(ctx, ids)
    raise BadRequest('send {"ids": ["<dead letter id>", ...]} or {"all": true}')


async def _retry(ctx: ApiContext, wanted: list[str] | None) -> web.Response:
    retried: list[str] = []
    async with ctx.db().acquire() as conn:
        letters = {row["id"]: _letter(row)
                   for row in await queries.pending_dead_letters(conn, wanted, MAX_RETRY)}
        partitions = await _partitions(ctx, letters.values())
        for dead_id, (letter, dlq_topic) in letters.items():
            origin = letter.state.origin
            route = retry_route(letter, deadletter_topic=dlq_topic, reset=False,
                                partitions=partitions.get(origin.topic) if origin else None)
            if route is None:
                continue
            await ctx.sink.publish(route.topic, letter.value or b"", key=letter.key,
                                   headers=route.headers, partition=route.partition)
            await conn.execute(
                "UPDATE dead_letters SET status = 'retried', status_changed_at = now(), "
                "retry_count = retry_count + 1 WHERE id = $1 AND status = 'pending'", dead_id)
            retried.append(dead_id)
    missing = sorted(set(wanted or ()) - set(retried))
    return json_response({"requested": len(retried), "ids": retried,
                          "not_pending": missing}, status=202)


def _letter(row: Mapping[str, Any]) -> tuple[DeadLetter, str]:
    """A stored dead letter as `tds dlq` reads it from the topic, so both retry alike."""
    stored = _headers(row["headers"]).items()
    headers: Headers = [(name, str(value).encode()) for name, value in stored
                        if value is not None]
    key, value = row["message_key"], row["message_value"]
    letter = DeadLetter(partition=row["dlq_partition"], offset=row["dlq_offset"],
                        key=bytes(key) if key is not None else None,
                        value=bytes(value) if value is not None else None,
                        headers=headers, timestamp_ms=0, state=read_state(headers))
    return letter, row["dlq_topic"]


async def _partitions(ctx: ApiContext, letters: Iterable[tuple[DeadLetter, str]]
                      ) -> dict[str, int]:
    """Partitions of the letters' origin topics now; unknown (empty) when Kafka does not
    say, and then each goes back to the partition it came from."""
    topics = {letter.state.origin.topic for letter, _ in letters if letter.state.origin}
    if not topics:
        return {}
    try:
        return await ctx.inspector.partitions(sorted(topics))
    except KafkaStateError:
        return {}


def _headers(raw: object) -> dict[str, object]:
    doc = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return doc if isinstance(doc, dict) else {}


async def retry_all(request: web.Request) -> web.Response:
    """POST /api/tds/deadletter/retry-all (the guide's spelling): every pending one."""
    ctx = request.app[API]
    require_token(request, ctx.settings.api_token)
    return await _retry(ctx, None)
