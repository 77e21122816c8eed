"""A poller process: the scheduler (when leader), the command listener and the runs.

`Poller` owns no connections: the `tds poll` command builds the Zoho client, the Kafka
sink, the PostgreSQL state and the read-model id source, and hands them in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from producers.pollers import jobs, joins
from producers.pollers.config import MAX_PER_PAGE, PollerConfig, PollTopics
from producers.pollers.errors import RunConflict
from producers.pollers.messages import run_event
from producers.pollers.publisher import Sink
from producers.pollers.runs import SyncRun
from producers.pollers.scheduler import Periodic
from producers.pollers.state import PollState, RunRecord
from producers.zoho.budget import Priority
from producers.zoho.entities import canonical
from producers.zoho.errors import ZohoError
from schemas.events import Command
from tds.metrics import Metrics

logger = logging.getLogger(__name__)

SOURCES = {"stock": "poll.stock", "incremental": "poll.incremental", "full": "poll.full"}


def priority_of(record: RunRecord) -> Priority:
    """A run's budget class: asked for by a person, scheduled, or a scheduled backfill."""
    if record.trigger != "schedule":
        return Priority.MANUAL
    return Priority.FULL if record.run_type == "full" else Priority.SCHEDULED


class Poller:
    """Runs sync runs for one organization and reports them."""

    def __init__(
        self,
        *,
        config: PollerConfig,
        topics: PollTopics,
        zoho: jobs.ZohoSource,
        sink: Sink,
        state: PollState,
        known_ids: jobs.KnownIds | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.topics = topics
        self._zoho = zoho
        self._sink = sink
        self._state = state
        self._known_ids = known_ids
        self._metrics = metrics
        self._manual: asyncio.Queue[RunRecord] = asyncio.Queue()

    # -- building and running runs ----------------------------------------------------

    def periodic(self) -> list[Periodic]:
        """The scheduled runs (none when TDS_ENABLE_AUTO_SYNC is off)."""
        if not self.config.auto_sync:
            return []
        # Widest first: at a fresh start the full sync fires, the incremental joins it
        # and the stock sync waits for it to end (producers.pollers.joins).
        jobs = []
        if self.config.full_interval_s > 0:
            jobs.append(Periodic("full", self.config.full_interval_s,
                                 self.config.entity_types, self.fire))
        jobs += [
            Periodic("incremental", self.config.reconcile_interval_s,
                     self.config.entity_types, self.fire),
            Periodic("stock", self.config.stock_interval_s, ("item",), self.fire),
        ]
        return jobs

    async def fire(self, record: RunRecord) -> None:
        """Run a slot the scheduler claimed."""
        await self.execute(record)

    def new_record(self, run_type: str, *, trigger: str, entity_types: Sequence[str],
                   run_id: str | None = None, run_key: str | None = None,
                   configuration: dict[str, str] | None = None) -> RunRecord:
        """A ledger row for a run about to be claimed."""
        rid = run_id or str(uuid.uuid4())
        return RunRecord(
            run_key=run_key or f"{trigger}:{rid}", run_id=rid, org_id=self.config.org_id,
            run_type=run_type, trigger=trigger, entity_types=tuple(entity_types),
            owner=self.config.owner, configuration={"trigger": trigger,
                                                    **(configuration or {})})

    async def execute(self, record: RunRecord, *, ids: Sequence[str] = ()) -> RunRecord:
        """Run a claimed run to its end; return its final ledger row (never raises)."""
        config = self.config
        per_page = record.configuration.get("batch_size", "")
        if per_page.isdigit() and int(per_page) > 0:
            config = replace(config, per_page=min(int(per_page), MAX_PER_PAGE))
        source = "poll.manual" if record.trigger == "command" else SOURCES[record.run_type]
        run = SyncRun(record, source=source, sink=self._sink, topics=self.topics,
                      state=self._state, heartbeat_s=config.heartbeat_s,
                      metrics=self._metrics)
        zoho = self._zoho.for_class(priority_of(record))
        with contextlib.suppress(Exception):  # SyncRun reported the failure
            async with run:
                if record.run_type == "stock":
                    sweep = record.configuration.get("full", "") in ("1", "true", "yes")
                    await jobs.stock_sync(run, zoho, self._state, config, sweep=sweep)
                elif record.run_type == "incremental":
                    await jobs.reconcile(run, zoho, self._state, config)
                else:
                    await jobs.full_sync(run, zoho, self._state, config,
                                         known_ids=self._known_ids, ids=ids)
        return run.record

    async def run_now(self, run_type: str, *, entity_types: Sequence[str] | None = None,
                      trigger: str = "cli", configuration: dict[str, str] | None = None,
                      run_id: str | None = None) -> RunRecord:
        """Claim and run one run in this process (`tds poll --once`, the Python API)."""
        types = self._types(run_type, entity_types or ())
        record = self.new_record(run_type, trigger=trigger, entity_types=types, run_id=run_id,
                                 configuration=configuration)
        if not await self._state.claim(record):
            raise RunConflict(f"run {record.run_id} is already claimed")
        return await self.execute(record)

    def _types(self, run_type: str, entity_types: Sequence[str]) -> tuple[str, ...]:
        if run_type == "stock":
            return ("item",)
        if not entity_types:
            return self.config.entity_types
        return tuple(dict.fromkeys(canonical(t) for t in entity_types))

    # -- commands -------------------------------------------------------------------------

    async def handle_command(self, command: Command) -> None:
        """Claim the command's run and queue it (a redelivered command is skipped)."""
        run_type = "stock" if command.kind == "stock_sync" else (
            "incremental" if command.mode == "incremental" else "full")
        try:
            types = self._types(run_type, command.entity_types)
        except ZohoError as exc:
            record = self.new_record(run_type, trigger="command",
                                     entity_types=command.entity_types, run_id=command.run_id,
                                     run_key=f"command:{command.run_id}")
            if await self._state.claim(record):
                await self._end_early(replace(record, status="failed", error=str(exc)))
            return
        options = {k: str(v) for k, v in command.options.items()}
        if not command.ids and await self._join(command, run_type, types, options):
            return
        record = self.new_record(
            run_type, trigger="command", entity_types=types, run_id=command.run_id,
            run_key=f"command:{command.run_id}",
            configuration={**options, "requested_by": command.requested_by,
                           "command_id": command.command_id,
                           **({"ids": ",".join(command.ids)} if command.ids else {})})
        if not await self._state.claim(record):
            logger.info("command %s: run %s already claimed; skipped", command.command_id,
                        command.run_id)
            return
        await self._manual.put(record)

    async def _join(self, command: Command, run_type: str, types: tuple[str, ...],
                    options: dict[str, str]) -> bool:
        """Join a running run that reads as much: the requested run ends `joined`, its
        configuration naming the run doing the work (`joined`)."""
        running = await self._state.running(self.config.org_id, self.config.stale_after_s)
        cover = joins.covering(running, run_type, types,
                               sweep=options.get("full", "") in joins.TRUE)
        if cover is None:
            return False
        record = self.new_record(
            run_type, trigger="command", entity_types=types, run_id=command.run_id,
            run_key=f"command:{command.run_id}",
            configuration={**options, "requested_by": command.requested_by,
                           "command_id": command.command_id, "joined": cover.run_id})
        if await self._state.claim(record):
            logger.info("command %s: run %s joins running run %s (%s)", command.command_id,
                        command.run_id, cover.run_id, cover.run_type)
            await self._end_early(replace(record, status="joined"))
        return True

    async def _manual_worker(self) -> None:
        while True:
            record = await self._manual.get()
            ids = [i for i in record.configuration.get("ids", "").split(",") if i]
            await self.execute(record, ids=ids)

    async def _end_early(self, record: RunRecord) -> None:
        """Report a run that ended before it could start (failed, or joined another)."""
        await self._state.finish(record)
        now = datetime.now(UTC)
        await self._sink.send_all(self.topics.runs, [run_event(
            run_id=record.run_id, status=record.status, run_type=record.run_type,
            org_id=record.org_id, entity_types=record.entity_types, at=now, started_at=now,
            error=record.error, configuration=record.configuration)])

    async def report_stale(self, runs: list[RunRecord]) -> None:
        """Emit tds.sync.failed for runs whose process died (swept by the scheduler)."""
        now = datetime.now(UTC)
        messages = [run_event(
            run_id=r.run_id, status="failed", run_type=r.run_type, org_id=r.org_id,
            entity_types=r.entity_types, at=now, started_at=r.created_at, seen=r.seen,
            sent=r.sent, deleted=r.deleted, failed=r.failed, error=r.error,
            configuration=r.configuration) for r in runs]
        for r in runs:
            logger.warning("sync run %s (%s) abandoned: %s", r.run_id, r.owner, r.error)
        await self._sink.send_all(self.topics.runs, messages)

    # -- the process ----------------------------------------------------------------------

    async def serve(self, stop: asyncio.Event,
                    *tasks: Coroutine[Any, Any, None]) -> None:
        """Work the manual queue and the given loops (scheduler, listener) until `stop`."""
        running = [asyncio.create_task(self._manual_worker(), name="manual-runs")]
        running += [asyncio.create_task(t) for t in tasks]
        waiter = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([waiter, *running],
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                error = None if task is waiter else task.exception()
                if error is not None:
                    raise error
        finally:
            stop.set()
            for task in [waiter, *running]:
                task.cancel()
            for task in running:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
