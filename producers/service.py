"""The guide's Python API, on top of `tds.commands` and the Zoho client.

    service = TDSService(pool)
    run = await service.create_sync_run(run_type="full", entity_type="products",
                                        configuration={"batch_size": 100})
    result = await sync_stock_levels(pool)        # waits for the run; .items_updated
    page = await ZohoClient().get_items(page=1, per_page=200, filter_by="Status.Active")

Runs are executed by a `tds poll` process (whichever holds the commands partition);
`db` is the PostgreSQL pool whose `poll_runs` ledger says how a run ended.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from producers.pollers.errors import PollerError
from producers.pollers.messages import Message
from producers.pollers.publisher import KafkaPublisher, Sink
from producers.pollers.state import PgPollState, RunRecord
from producers.zoho.client import ZohoClient
from producers.zoho.entities import canonical
from schemas.cloudevents import ce_headers
from schemas.events import Command
from schemas.topics import COMMANDS
from tds.kafka import producer_config
from tds.settings import Settings

# run_type values the guide and the admin API use, mapped to (command kind, mode).
RUN_TYPES: dict[str, tuple[str, str]] = {
    "full": ("sync", "full"),
    "manual": ("sync", "full"),
    "zoho": ("sync", "full"),  # the guide's SourceType.ZOHO
    "sourcetype.zoho": ("sync", "full"),
    "incremental": ("sync", "incremental"),
    "stock": ("stock_sync", "full"),
    "stock_sync": ("stock_sync", "full"),
}


class RunTimeout(PollerError):
    """The run did not finish in time (is a `tds poll` process running?)."""

    retriable = True


@dataclass(frozen=True, slots=True)
class SyncRunHandle:
    """A requested run: follow it by `id` (tds.sync.runs, /api/tds/sync-runs/{id})."""

    id: str
    run_type: str
    entity_types: tuple[str, ...]
    configuration: dict[str, str] = field(default_factory=dict)
    requested_at: datetime | None = None
    command_id: str = ""


@dataclass(frozen=True, slots=True)
class StockSyncResult:
    """How a stock sync ended."""

    run_id: str
    status: str
    items_updated: int
    error: str | None = None


class TDSService:
    """Request sync runs (published to tds.commands) and wait for their outcome."""

    def __init__(
        self,
        db: asyncpg.Pool | None = None,
        *,
        settings: Settings | None = None,
        sink: Sink | None = None,
        topic: str = COMMANDS,
        requested_by: str = "python",
    ) -> None:
        self._db = db
        self._settings = settings
        self._sink = sink
        self._topic = topic
        self._requested_by = requested_by

    async def create_sync_run(
        self,
        run_type: str = "full",
        entity_type: str | Sequence[str] | None = None,
        configuration: Mapping[str, Any] | None = None,
        *,
        ids: Sequence[str] = (),
    ) -> SyncRunHandle:
        """Publish a sync command; the returned handle's `id` is the run id."""
        key = str(getattr(run_type, "value", run_type)).strip().lower()
        if key not in RUN_TYPES:
            raise PollerError(f"run_type={run_type!r} is not one of {', '.join(RUN_TYPES)}")
        kind, mode = RUN_TYPES[key]
        if entity_type is None:
            names: list[str] = []
        elif isinstance(entity_type, str):
            names = [entity_type]
        else:
            names = list(entity_type)
        types = tuple(dict.fromkeys(canonical(str(getattr(n, "value", n))) for n in names))
        if kind == "stock_sync":
            types = ("item",)
        options = {str(k): str(v) for k, v in (configuration or {}).items()}
        now = datetime.now(UTC)
        command = Command(command_id=str(uuid.uuid4()), kind=kind, run_id=str(uuid.uuid4()),
                          requested_at=now, entity_types=list(types), mode=mode,
                          requested_by=self._requested_by, ids=list(ids), options=options)
        await self._publish(command)
        return SyncRunHandle(id=command.run_id, run_type=kind if kind == "stock_sync" else mode,
                             entity_types=types, configuration=options, requested_at=now,
                             command_id=command.command_id)

    async def _publish(self, command: Command) -> None:
        message = Message(command.run_id.encode(), command.encode(),
                          ce_headers("tds.command", "/tds/python", event_id=command.command_id,
                                     time=command.requested_at))
        if self._sink is not None:
            await self._sink.send_all(self._topic, [message])
            return
        settings = self._settings or Settings.from_env()
        config = producer_config(settings.kafka, **{"client.id": "tds-python"})
        async with KafkaPublisher(config) as publisher:
            await publisher.send_all(self._topic, [message])

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The run's ledger row (needs `db`)."""
        if self._db is None:
            raise PollerError("TDSService(db) needs a PostgreSQL pool to read run status")
        return await PgPollState(self._db).run(run_id)

    async def wait_for_run(self, run_id: str, *, timeout_s: float = 1800.0,
                           poll_s: float = 1.0) -> RunRecord:
        """Wait until the run completed or failed; RunTimeout after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = await self.get_run(run_id)
            if run is not None and run.status in ("completed", "failed"):
                return run
            if time.monotonic() >= deadline:
                state = "not picked up" if run is None else run.status
                raise RunTimeout(f"run {run_id} is still {state} after {timeout_s:g} s; is a "
                                 "`tds poll` process running?")
            await asyncio.sleep(poll_s)


async def sync_stock_levels(
    db: asyncpg.Pool,
    *,
    settings: Settings | None = None,
    full: bool = False,
    timeout_s: float = 1800.0,
    sink: Sink | None = None,
    topic: str = COMMANDS,
) -> StockSyncResult:
    """Request a stock sync, wait for it, and report how many items it sent."""
    service = TDSService(db, settings=settings, sink=sink, topic=topic)
    handle = await service.create_sync_run("stock", configuration={"full": str(full).lower()})
    run = await service.wait_for_run(handle.id, timeout_s=timeout_s)
    return StockSyncResult(run_id=run.run_id, status=run.status, items_updated=run.sent,
                           error=run.error)


__all__ = ["StockSyncResult", "SyncRunHandle", "TDSService", "ZohoClient", "sync_stock_levels"]
