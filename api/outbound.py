"""Write-back through the API: accept commands onto tds.outbound, show what became of them.

`POST /api/tds/outbound` takes one command or a list. Every command is checked at the
door (`schemas.outbound.validate_command`); one bad command refuses the whole request
(400 naming `commands[i].field`) and nothing is published. Accepted commands are recorded
in `outbound_commands` (status `accepted`), then published. A command_id already known
answers with the stored command when the content is the same (and is published again
while the writer has not seen it: the first publish may have failed), else 400.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from api.auth import require_token
from api.context import API, ApiContext
from api.errors import BadRequest, NotFound, ServiceUnavailable
from api.params import choice_param, int_param, text_param
from api.render import json_response
from schemas.cloudevents import ce_headers
from schemas.errors import InvalidCommand
from schemas.outbound import COMMAND_CE_TYPE, OPERATIONS, OutboundCommand, validate_command

MAX_BODY = 1024 * 1024
MAX_COMMANDS = 500
STATUSES = ("accepted", "sending", "retrying", "applied", "rejected", "conflict", "dead")
OPERATION_NAMES = sorted({op for ops in OPERATIONS.values() for op in ops})
KNOWN = frozenset(f.name for f in dataclass_fields(OutboundCommand))
_COLUMNS = """command_id, org_id, entity_type, operation, entity_id, erp_ref, status,
    attempts, zoho_id, zoho_version, current_version, http_status, zoho_code, message,
    requested_by, requested_at, accepted_at, sent_at, completed_at, published_at"""
_INSERT = """INSERT INTO outbound_commands (command_id, org_id, entity_type, operation,
    entity_id, erp_ref, content_hash, command, status, requested_by, requested_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 'accepted', $9, $10)
ON CONFLICT (command_id) DO NOTHING RETURNING command_id"""


async def _read_body(request: web.Request) -> list[Any]:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadRequest(f"body larger than {MAX_BODY} bytes")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    items = doc if isinstance(doc, list) else [doc]
    if not items or len(items) > MAX_COMMANDS:
        raise BadRequest(f"send one command (a JSON object) or a list of 1 to {MAX_COMMANDS}")
    return items


def check(items: list[Any], *, now: datetime) -> list[OutboundCommand]:
    """Validate every command (filling command_id, requested_at and requested_by when
    left out); BadRequest names `commands[i].field` of the first that is wrong."""
    commands: list[OutboundCommand] = []
    seen: dict[str, str] = {}
    for n, item in enumerate(items):
        where = f"commands[{n}]" if len(items) > 1 else "command"
        if not isinstance(item, dict):
            raise BadRequest(f"{where} must be a JSON object, got {type(item).__name__}")
        unknown = sorted(set(item) - KNOWN)
        if unknown:
            raise BadRequest(f"{where}.{unknown[0]}: not a command field; the fields are "
                             f"{', '.join(sorted(KNOWN))}")
        nul = _nul_at(item)
        if nul is not None:  # PostgreSQL cannot store it; Zoho would not want it
            raise BadRequest(f"{where}.{nul}: must not contain a NUL character")
        value = {"command_id": str(uuid.uuid4()), "requested_at": now.isoformat(),
                 "requested_by": "api", **item}
        try:
            command = validate_command(value)
        except InvalidCommand as exc:
            raise BadRequest(f"{where}.{exc.field}: {exc.reason}") from None
        earlier = seen.setdefault(command.command_id, command.content_hash())
        if earlier != command.content_hash():
            raise BadRequest(f"{where}.command_id: {command.command_id!r} appears twice in "
                             "this request with different content")
        commands.append(command)
    return commands


def _nul_at(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) holding NUL, or None."""
    if isinstance(value, str):
        return path or "value" if "\x00" in value else None
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return where
            items.append((where, inner))
    elif isinstance(value, list):
        items = [(f"{path}[{n}]", inner) for n, inner in enumerate(value)]
    for where, inner in items:
        found = _nul_at(inner, where)
        if found is not None:
            return found
    return None


async def _record(conn: asyncpg.Connection,
                  commands: list[OutboundCommand]) -> list[tuple[OutboundCommand, str, bool]]:
    """Insert each new command; (command, status, new) for each. A known id with other
    content raises BadRequest (the transaction rolls back: nothing is recorded)."""
    out: list[tuple[OutboundCommand, str, bool]] = []
    for n, command in enumerate(commands):
        inserted = await conn.fetchval(
            _INSERT, command.command_id, command.org_id, command.entity_type,
            command.operation, command.entity_id, command.erp_ref, command.content_hash(),
            orjson.dumps(command.to_json()).decode(), command.requested_by,
            command.requested_at)
        if inserted is not None:
            out.append((command, "accepted", True))
            continue
        row = await conn.fetchrow("SELECT content_hash, status FROM outbound_commands "
                                  "WHERE command_id = $1", command.command_id)
        assert row is not None
        if row["content_hash"] != command.content_hash():
            where = f"commands[{n}]" if len(commands) > 1 else "command"
            raise BadRequest(f"{where}.command_id: {command.command_id!r} was already used "
                             "for a different command (same id needs the same content)")
        out.append((command, row["status"], False))
    return out


async def submit(request: web.Request) -> web.Response:
    """POST /api/tds/outbound: 202 with each command's id, status and status URL."""
    ctx = request.app[API]
    require_token(request, ctx.settings.api_token)
    commands = check(await _read_body(request), now=datetime.now(UTC))
    async with ctx.db().acquire() as conn, conn.transaction():
        recorded = await _record(conn, commands)
    for command, status, _ in recorded:
        if status == "accepted":  # new, or never seen by the writer: (re)publish
            await _publish(ctx, command)
    return json_response({"commands": [
        {"command_id": c.command_id, "status": status, "existing": not new,
         "status_url": f"/api/tds/outbound/{c.command_id}"}
        for c, status, new in recorded]}, status=202)


async def _publish(ctx: ApiContext, command: OutboundCommand) -> None:
    headers = ce_headers(COMMAND_CE_TYPE, "/tds/api", event_id=command.command_id,
                         time=command.requested_at,
                         subject=f"{command.entity_type}/{command.command_id}")
    try:
        await ctx.sink.publish(ctx.outbound_topic, command.encode(), key=command.key(),
                               headers=headers)
    except Exception as exc:  # recorded as accepted: sending the same command again works
        raise ServiceUnavailable(f"Kafka did not take command {command.command_id}: {exc}; "
                                 "send the same request again") from exc


def _json_row(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
    return out


async def get_command(request: web.Request) -> web.Response:
    """GET /api/tds/outbound/{command_id}: the command, its status and Zoho's answer."""
    ctx = request.app[API]
    command_id = request.match_info["command_id"]
    async with ctx.db().acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS}, command::text AS command, answer::text AS answer "
            "FROM outbound_commands WHERE command_id = $1", command_id)
    if row is None:
        raise NotFound(f"no outbound command {command_id!r}")
    doc = _json_row(row)
    doc["command"] = orjson.loads(doc["command"])
    doc["answer"] = orjson.loads(doc["answer"]) if doc["answer"] else None
    return json_response(doc)


def _cursor(row: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(
        [row["accepted_at"], row["command_id"]])).decode().rstrip("=")


def _after(request: web.Request) -> tuple[datetime, str] | None:
    raw = text_param(request, "after", 400)
    if raw is None:
        return None
    try:
        at, command_id = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        when = datetime.fromisoformat(at)
        if not isinstance(command_id, str) or when.tzinfo is None:
            raise ValueError("not a cursor")
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise BadRequest(f"after={raw!r} is not a cursor from a previous page's `next`"
                         ) from None
    return when, command_id


async def list_commands(request: web.Request) -> web.Response:
    """GET /api/tds/outbound?limit&after&status&entity_type&operation&erp_ref&requested_by:
    newest first; `next` continues after this page (None on the last)."""
    ctx = request.app[API]
    limit = int_param(request, "limit", 50, 1, 500)
    where: list[str] = []
    args: list[Any] = []
    filters = {"status": choice_param(request, "status", STATUSES),
               "entity_type": choice_param(request, "entity_type", tuple(OPERATIONS)),
               "operation": choice_param(request, "operation", OPERATION_NAMES),
               "erp_ref": text_param(request, "erp_ref", 200),
               "requested_by": text_param(request, "requested_by", 200)}
    for column, value in filters.items():
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    after = _after(request)
    if after is not None:
        args += list(after)
        where.append(f"(accepted_at, command_id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    sql = (f"SELECT {_COLUMNS} FROM outbound_commands "
           f"{'WHERE ' + ' AND '.join(where) if where else ''} "
           f"ORDER BY accepted_at DESC, command_id DESC LIMIT ${len(args)}")
    async with ctx.db().acquire() as conn:
        rows = [_json_row(r) for r in await conn.fetch(sql, *args)]
    following = _cursor(rows[-1]) if len(rows) == limit else None
    return json_response({"limit": limit, "next": following, "commands": rows})


async def waiting(conn: asyncpg.Connection) -> int:
    """Commands not finished yet (for health: they need a running writer)."""
    found: int = await conn.fetchval("SELECT count(*) FROM outbound_commands WHERE status IN "
                                     "('accepted', 'sending', 'retrying')")
    return found


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Commands per status (every status, zeros included), for /api/tds/status."""
    found = {r["status"]: r["n"] for r in await conn.fetch(
        "SELECT status, count(*) AS n FROM outbound_commands GROUP BY status")}
    return {status: int(found.get(status, 0)) for status in STATUSES}


__all__ = ["check", "counts", "get_command", "list_commands", "submit", "waiting"]
