"""The writer's batch handler: each command of `tds.outbound` applied in Zoho once.

Per command: record it (`outbound_commands`), take its lock, and unless it is already
final, apply it (`consumers.outbound.apply`), recording intent before each send and the
outcome after. Then the outcome goes to `tds.outbound.results`, and an applied record to
`zoho.raw.realtime` (headers `tds_command_id`, `tds_origin=erp`, also in the raw event's
attributes, which the stream worker copies onto the `tds.entity.synced` event). A final
command met again (a redelivery after a crash) is only answered again if its result never
reached Kafka. Commands of one key run in log order; different keys run concurrently.

Zoho unavailable (429 after the budget's waits, 5xx, network) → the retry chain, then the
dead letters; a command that is not valid → the dead letters at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from consumers.batching import Batch
from consumers.errors import StoreUnavailable
from consumers.failures import FailureRouter
from consumers.offsets import claim
from consumers.outbound import mapping
from consumers.outbound.apply import Applied, Applier
from consumers.outbound.port import Publishing, ZohoPort, ZohoUnavailable
from consumers.outbound.store import DEAD, CommandRow, CommandStore, Outcome
from consumers.postgres import is_driver_error, translate
from schemas.cloudevents import ce_headers
from schemas.codec import Codec, default_codec
from schemas.errors import CodecError, InvalidCommand
from schemas.events import RawEvent, decode_event
from schemas.outbound import (
    APPLIED,
    DELETE,
    H_COMMAND_ID,
    H_ORIGIN,
    ORIGIN_ERP,
    OutboundCommand,
    OutboundResult,
)
from schemas.topics import OUTBOUND_RESULTS, RAW_REALTIME, entity_key
from tds.kafka import MessageLike
from tds.metrics import Metrics

logger = logging.getLogger(__name__)

STAGE = "writer"
DEFAULT_GROUP = "tds-writer"
CE_SOURCE = "/tds/writer"
WRITTEN_CE_TYPE = "zoho.record.written"
RAW_SOURCE = "writeback"


class CommandReused(InvalidCommand):
    """A command_id came again with different content: the first one stands."""

    def __init__(self, command_id: str) -> None:
        super().__init__("command_id", f"command_id {command_id!r} was already used for a "
                         "different command; the first one stands (use a new command_id)")


class OutboundWriter:
    """The batch handler of the `tds-writer` consumer group."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        zoho: ZohoPort,
        publisher: Publishing,
        router: FailureRouter,
        metrics: Metrics,
        group: str = DEFAULT_GROUP,
        results_topic: str = OUTBOUND_RESULTS,
        raw_topic: str = RAW_REALTIME,
        concurrency: int = 4,
        codec: Codec | None = None,
    ) -> None:
        self._pool = pool
        self._store = CommandStore(pool)
        self._applier = Applier(zoho=zoho, metrics=metrics)
        self._publisher = publisher
        self._router = router
        self._metrics = metrics
        self.group = group
        self._results_topic, self._raw_topic = results_topic, raw_topic
        self._limit = asyncio.Semaphore(concurrency)
        self._codec = codec or default_codec()

    async def handle(self, batch: Batch) -> None:
        """Apply the batch's commands, route the failures, then move the offsets."""
        failed: list[tuple[MessageLike, BaseException]] = []
        by_key: dict[bytes | None, list[tuple[MessageLike, OutboundCommand]]] = {}
        for message in batch.messages:
            try:
                command = self._decode(message)
            except (CodecError, InvalidCommand) as exc:
                failed.append((message, exc))
                continue
            by_key.setdefault(message.key(), []).append((message, command))
        try:
            async with asyncio.TaskGroup() as tasks:
                for items in by_key.values():
                    tasks.create_task(self._run_key(items, failed))
        except BaseExceptionGroup as group:  # one failure stops the batch: it is re-read
            raise group.exceptions[0] from None
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await claim(conn, self.group, batch.claims)
                for message, error in failed:
                    routed = self._router.route(message, error)
                    command_id = _command_id(message, self._codec)
                    if routed.dead and command_id:
                        await CommandStore.dead(conn, command_id)
                    self._count(message, DEAD if routed.dead else "retry")
                await asyncio.to_thread(self._router.flush)
        except Exception as exc:
            if is_driver_error(exc):
                raise translate(exc) from exc
            raise

    def _decode(self, message: MessageLike) -> OutboundCommand:
        value = message.value()
        if value is None:
            raise InvalidCommand("value", "the message has no value")
        event = decode_event(value, codec=self._codec, topic=message.topic(),
                             partition=message.partition(), offset=message.offset())
        if not isinstance(event, OutboundCommand):
            raise InvalidCommand("value", f"expected an outbound_command, got "
                                 f"{type(event).__name__}")
        return event

    async def _run_key(self, items: Sequence[tuple[MessageLike, OutboundCommand]],
                       failed: list[tuple[MessageLike, BaseException]]) -> None:
        for message, command in items:  # a record's commands in log order
            async with self._limit:
                try:
                    await self._one(command)
                except (ZohoUnavailable, CommandReused) as exc:
                    failed.append((message, exc))
                except Exception as exc:  # PostgreSQL down: the batch is read again
                    if is_driver_error(exc):
                        raise StoreUnavailable(f"outbound_commands: {exc}") from exc
                    raise

    async def _one(self, command: OutboundCommand) -> None:
        row = await self._store.admit(command)
        if row.content_hash != command.content_hash():
            raise CommandReused(command.command_id)
        if row.final:
            await self._answer_again(command, row)
            return
        async with self._store.hold(command.command_id) as held:
            row = await held.row()  # another writer may have finished it while we waited
            if row.final:
                await self._answer_again(command, row)
                return
            try:
                applied = await self._applier.apply(command, unknown=row.unknown,
                                                    before_send=held.sending)
            except ZohoUnavailable as exc:
                await held.retrying(str(exc))
                raise
            await held.finish(applied.outcome)
        await self._publish(command, applied)

    async def _answer_again(self, command: OutboundCommand, row: CommandRow) -> None:
        """A final command met again: answer it once more only if its result never left
        (the record Zoho returned goes back to the raw topic too)."""
        self._metrics.outbound_commands.labels(command.entity_type, "duplicate").inc()
        if row.published or row.outcome is None:
            return
        outcome = row.outcome
        record = outcome.answer if outcome.status == APPLIED and outcome.zoho_id and \
            command.entity_type in mapping.READ_MODEL_TYPES and command.operation != DELETE \
            else None
        await self._publish(command, Applied(
            outcome, record=record,
            deleted=outcome.status == APPLIED and command.operation == DELETE))

    async def _publish(self, command: OutboundCommand, applied: Applied) -> None:
        """Feed the written record back, then answer (the read model may show the record
        before the ERP reads the result, never the other way round)."""
        outcome = applied.outcome
        now = datetime.now(UTC)
        marks = {"origin": ORIGIN_ERP, "command_id": command.command_id}
        if applied.record is not None or applied.deleted:
            spec = mapping.target(command)
            assert outcome.zoho_id is not None
            body = applied.record if applied.record is not None else {
                spec.id_field: outcome.zoho_id}
            await self._feed(command.org_id, command.entity_type, outcome.zoho_id,
                             "deleted" if applied.deleted else
                             "created" if command.operation == "create" else "edited",
                             body, marks, now)
        for entity_type, entity_id in applied.pings:
            await self._feed(command.org_id, entity_type, entity_id, "ping",
                             {mapping.TARGETS[entity_type].id_field: entity_id}, marks, now)
        result = OutboundResult(
            event_id=str(uuid.uuid4()), command_id=command.command_id, status=outcome.status,
            org_id=command.org_id, entity_type=command.entity_type,
            operation=command.operation, completed_at=now, entity_id=outcome.zoho_id,
            erp_ref=command.erp_ref,
            zoho_version=outcome.current_version or outcome.zoho_version,
            base_version=command.base_version, http_status=outcome.http_status,
            zoho_code=outcome.zoho_code, message=outcome.message)
        headers = [*ce_headers(result.ce_type, CE_SOURCE, event_id=result.event_id, time=now,
                               subject=f"{command.entity_type}/{command.command_id}"),
                   (H_COMMAND_ID, command.command_id.encode())]
        await self._publisher.publish(self._results_topic, result.encode(self._codec),
                                      key=result.key(), headers=headers)
        await self._store.published(command.command_id)
        self._metrics.outbound_commands.labels(command.entity_type, outcome.status).inc()
        self._metrics.outbound_duration.observe(
            max(0.0, time.time() - command.requested_at.timestamp()))

    async def _feed(self, org_id: str, entity_type: str, entity_id: str, kind: str,
                    body: Mapping[str, Any], marks: dict[str, str], now: datetime) -> None:
        event = RawEvent(
            event_id=str(uuid.uuid4()), source=RAW_SOURCE, org_id=org_id,
            entity_type=entity_type, entity_id=entity_id, event_kind=kind, received_at=now,
            body=orjson.dumps(body), content_type="application/json",
            signature_verified=False, attributes=marks)
        headers = [*ce_headers(WRITTEN_CE_TYPE, CE_SOURCE, event_id=event.event_id, time=now,
                               subject=f"{entity_type}/{entity_id}"),
                   (H_COMMAND_ID, marks["command_id"].encode()),
                   (H_ORIGIN, ORIGIN_ERP.encode())]
        await self._publisher.publish(self._raw_topic, event.encode(self._codec),
                                      key=entity_key(org_id, entity_type, entity_id),
                                      headers=headers)

    def _count(self, message: MessageLike, outcome: str) -> None:
        key = message.key() or b""
        parts = key.split(b":")
        entity = parts[1].decode(errors="replace") if len(parts) > 2 else "unknown"
        self._metrics.outbound_commands.labels(entity, outcome).inc()


def _command_id(message: MessageLike, codec: Codec) -> str | None:
    """The command id of a message, if it has one (for marking a dead command)."""
    try:
        _, value = codec.decode(message.value() or b"")
    except CodecError:
        return None
    found = value.get("command_id")
    return found if isinstance(found, str) else None


__all__ = ["DEFAULT_GROUP", "STAGE", "CommandReused", "OutboundWriter", "Outcome"]
