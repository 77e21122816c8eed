"""Apply one command in Zoho: check for conflicts, resolve an unknown outcome, send.

What is sent again after an unknown outcome (the writer died, or Zoho answered 5xx or
not at all, after the intent was recorded):
- create: never blindly. The record is looked up by the reference the create wrote
  (`mapping.TARGETS`); found, it is the command's effect; not found, it is sent.
- update: a PUT sets the same values again, so it is idempotent in effect; but our own
  earlier send moved `last_modified_time` past `base_version`, so a newer record whose
  fields already hold the command's values counts as our effect, not a conflict.
- delete: sent again; "no such record" then means our earlier send deleted it.
- status actions: the record's status is read first; already there, it is our effect.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from consumers.outbound import mapping
from consumers.outbound.port import ZohoPort, ZohoRefused
from consumers.outbound.store import Outcome
from schemas.outbound import APPLIED, CONFLICT, CREATE, DELETE, REJECTED, UPDATE, OutboundCommand
from tds.metrics import Metrics

logger = logging.getLogger(__name__)

BeforeSend = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Applied:
    """An outcome and what to feed back into `zoho.raw.realtime`: the record (created or
    edited), a delete, or ids to ping (the worker fetches them)."""

    outcome: Outcome
    record: dict[str, Any] | None = None
    deleted: bool = False
    pings: tuple[tuple[str, str], ...] = ()  # (entity_type, entity_id)


def _refused(exc: ZohoRefused, entity_id: str | None = None) -> Applied:
    return Applied(Outcome(REJECTED, entity_id, http_status=exc.status, zoho_code=exc.code,
                           message=exc.message))


class Applier:
    """Makes the Zoho calls of one command through `zoho`."""

    def __init__(self, *, zoho: ZohoPort, metrics: Metrics) -> None:
        self._zoho = zoho
        self._calls = metrics.outbound_zoho_calls

    async def apply(self, command: OutboundCommand, *, unknown: bool,
                    before_send: BeforeSend) -> Applied:
        """The command's outcome; ZohoUnavailable propagates (the retry chain's)."""
        if command.org_id != self._zoho.organization_id:
            return Applied(Outcome(REJECTED, command.entity_id, message=(
                f"org_id {command.org_id} is not the Zoho organization this writer serves "
                f"({self._zoho.organization_id})")))
        try:
            if command.operation == CREATE:
                return await self._create(command, unknown, before_send)
            return await self._change(command, unknown, before_send)
        except ZohoRefused as exc:
            return _refused(exc, command.entity_id)

    async def _create(self, command: OutboundCommand, unknown: bool,
                      before_send: BeforeSend) -> Applied:
        spec = mapping.target(command)
        if unknown:
            found = await self._lookup(command)
            if found is not None:
                found_id = str(found.get(spec.id_field))
                logger.info("command %s: %s %s found by its reference after an unknown "
                            "outcome; not sent again", command.command_id, command.entity_type,
                            found_id)
                # The list shows fewer fields than the record: feed back the whole record.
                full = await self._get(command, found_id) if command.entity_type in \
                    mapping.READ_MODEL_TYPES else None
                return self._applied(command, full or found, "found by reference")
        call = mapping.call_for(command)
        await before_send()
        self._calls.labels("send").inc()
        envelope = await self._zoho.call(call.method, call.product, call.path, body=call.body,
                                         endpoint=call.endpoint)
        record = envelope.get(spec.single_key)
        if not isinstance(record, dict):
            record = {}
        return self._applied(command, record, str(envelope.get("message", "")))

    async def _lookup(self, command: OutboundCommand) -> dict[str, Any] | None:
        spec = mapping.target(command)
        params = mapping.lookup_params(command)
        if params is None:
            return None
        self._calls.labels("lookup").inc()
        envelope = await self._zoho.call("GET", spec.product, spec.path, params=params,
                                         endpoint=f"{spec.path.strip('/')}/lookup")
        rows = envelope.get(spec.list_key)
        wanted = params[spec.reference]
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and str(row.get(spec.reference, "")) == wanted:
                return row
        return None

    async def _get(self, command: OutboundCommand,
                   entity_id: str | None = None) -> dict[str, Any] | None:
        """The record (of the command, or `entity_id`) as Zoho's GET shows it; None: gone."""
        spec = mapping.target(command)
        self._calls.labels("check").inc()
        try:
            envelope = await self._zoho.call("GET", spec.product,
                                             f"{spec.path}/{entity_id or command.entity_id}",
                                             endpoint=f"{spec.path.strip('/')}/id")
        except ZohoRefused as exc:
            if exc.not_found:
                return None
            raise
        record = envelope.get(spec.single_key)
        return record if isinstance(record, dict) else None

    async def _change(self, command: OutboundCommand, unknown: bool,
                      before_send: BeforeSend) -> Applied:
        target_status = mapping.action_status(command)
        current: dict[str, Any] | None = None
        if (command.base_version and not command.force) or (unknown and target_status):
            current = await self._get(command)
            if current is None and not (unknown and command.operation == DELETE):
                return Applied(Outcome(REJECTED, command.entity_id, http_status=404,
                                       zoho_code=1002, message=f"{command.entity_type} "
                                       f"{command.entity_id} does not exist in Zoho"))
        if current is not None:
            version = current.get("last_modified_time")
            if unknown and target_status and current.get("status") == target_status:
                return self._applied(command, current, "status already set")
            if command.base_version and not command.force and mapping.is_newer(
                    version, command.base_version):
                if unknown and command.operation == UPDATE and mapping.holds_fields(
                        current, command.fields):
                    return self._applied(command, current, "already holds the fields")
                return Applied(Outcome(
                    CONFLICT, command.entity_id, current_version=str(version),
                    message=f"Zoho's record changed at {version}, after base_version "
                    f"{command.base_version}; not overwritten (force: true overrides)",
                    answer=current))
        call = mapping.call_for(command)
        spec = mapping.target(command)
        await before_send()
        self._calls.labels("send").inc()
        try:
            envelope = await self._zoho.call(call.method, call.product, call.path,
                                             body=call.body, endpoint=call.endpoint)
        except ZohoRefused as exc:
            if command.operation == DELETE and unknown and exc.not_found:
                return Applied(Outcome(APPLIED, command.entity_id, message="already deleted"),
                               deleted=True)
            raise
        if command.operation == DELETE:
            return Applied(Outcome(APPLIED, command.entity_id,
                                   message=str(envelope.get("message", ""))), deleted=True)
        record = envelope.get(spec.single_key)
        if not isinstance(record, dict):  # actions answer only code and message
            record = await self._get(command) or {}
        return self._applied(command, record, str(envelope.get("message", "")))

    def _applied(self, command: OutboundCommand, record: dict[str, Any],
                 message: str) -> Applied:
        spec = mapping.target(command)
        zoho_id = record.get(spec.id_field)
        version = record.get("last_modified_time")
        outcome = Outcome(APPLIED, str(zoho_id) if zoho_id else command.entity_id,
                          str(version) if version else None, message=message or None,
                          answer=record)
        if command.entity_type not in mapping.READ_MODEL_TYPES:
            # An adjustment changes the stock of its items: the worker fetches each.
            items = {str(line["item_id"]) for line in record.get("line_items") or []
                     if isinstance(line, dict) and line.get("item_id")}
            return Applied(outcome, pings=tuple(("item", i) for i in sorted(items)))
        return Applied(outcome, record=record if zoho_id else None)
