"""The scheduler's slots, the command path and command decoding, without I/O."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from producers.pollers.commands import decode_command
from producers.pollers.config import PollerConfig, PollTopics
from producers.pollers.publisher import MemorySink
from producers.pollers.runner import Poller, priority_of
from producers.pollers.scheduler import Periodic, Scheduler, slot_of
from producers.pollers.state import MemoryPollState, RunRecord
from producers.zoho.budget import Priority
from schemas.events import Command, RawEvent, SyncRunEvent, decode_event
from tests.support.waits import until
from tests.unit.pollers.fakes import T0, FakeZoho, minutes

ORG = "777"


class FakeLeadership:
    def __init__(self) -> None:
        self.leader = True
        self.closed = False
        self.asked = 0  # ticks that asked for leadership: what a test waits on

    async def ensure(self) -> bool:
        self.asked += 1
        return self.leader

    async def close(self) -> None:
        self.closed = True


def test_slots_align_to_the_epoch() -> None:
    assert slot_of(1000.0, 300.0) == 900.0
    assert slot_of(1199.9, 300.0) == 900.0
    assert slot_of(1200.0, 300.0) == 1200.0


def _held(state: MemoryPollState) -> tuple[
        list[RunRecord], asyncio.Event, Callable[[RunRecord], Coroutine[Any, Any, None]]]:
    """A `fire` that records each run and holds it until `release` is set."""
    fired: list[RunRecord] = []
    release = asyncio.Event()

    async def fire(record: RunRecord) -> None:
        fired.append(record)
        await release.wait()
        await state.finish(replace(record, status="completed"))

    return fired, release, fire


async def test_each_slot_fires_once_and_never_overlaps() -> None:
    state = MemoryPollState()
    fired, release, fire = _held(state)

    now = [1000.0]
    config = PollerConfig(org_id=ORG, tick_s=0.01, stale_after_s=90)
    scheduler = Scheduler(
        leadership=FakeLeadership(), state=state, config=config,  # type: ignore[arg-type]
        periodic=[Periodic("stock", 60.0, ("item",), fire)],
        on_stale=lambda runs: asyncio.sleep(0), clock=lambda: now[0])
    await scheduler._tick()
    await scheduler._tick()
    await asyncio.sleep(0)
    assert len(fired) == 1 and fired[0].run_key == f"{ORG}:stock@1970-01-01T00:16:00Z"
    now[0] = 1065.0  # next slot while the first run is still going: wait for it
    await scheduler._tick()
    await asyncio.sleep(0)
    assert len(fired) == 1
    release.set()
    for _ in range(3):
        await asyncio.sleep(0)
    await scheduler._tick()
    await asyncio.sleep(0)
    assert len(fired) == 2 and fired[1].configuration["slot"] == "1970-01-01T00:17:00Z"
    # A second scheduler (a new leader after a hand-over) cannot fire the same slot.
    other = Scheduler(
        leadership=FakeLeadership(), state=state, config=config,  # type: ignore[arg-type]
        periodic=[Periodic("stock", 60.0, ("item",), fire)],
        on_stale=lambda runs: asyncio.sleep(0), clock=lambda: now[0])
    await other._tick()
    await asyncio.sleep(0)
    assert len(fired) == 2


async def test_a_follower_fires_nothing_and_run_stops_cleanly() -> None:
    state = MemoryPollState()
    leadership = FakeLeadership()
    leadership.leader = False
    fired: list[RunRecord] = []

    async def fire(record: RunRecord) -> None:
        fired.append(record)

    scheduler = Scheduler(
        leadership=leadership, state=state,  # type: ignore[arg-type]
        config=PollerConfig(org_id=ORG, tick_s=0.01),
        periodic=[Periodic("stock", 60.0, ("item",), fire)],
        on_stale=lambda runs: asyncio.sleep(0))
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    await until(lambda: leadership.asked >= 3, 5, what="three ticks refused leadership")
    stop.set()
    await asyncio.wait_for(task, 2)
    assert fired == [] and leadership.closed


@dataclass
class Msg:
    data: bytes | None

    def value(self) -> bytes | None:
        return self.data

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "cmd"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7


def _command(**kw: object) -> Command:
    values: dict[str, object] = {"command_id": "c1", "kind": "sync", "run_id": "run-1",
                                 "requested_at": datetime(2025, 1, 1, tzinfo=UTC)}
    values.update(kw)
    return Command(**values)  # type: ignore[arg-type]


def test_decode_command() -> None:
    assert decode_command(Msg(_command().encode())) == _command()
    assert decode_command(Msg(_command(kind="deadletter_retry").encode())) is None
    assert decode_command(Msg(b"\xc3\x01garbage!!")) is None
    assert decode_command(Msg(None)) is None


def _poller(zoho: FakeZoho, state: MemoryPollState, sink: MemorySink) -> Poller:
    return Poller(config=PollerConfig(org_id=ORG, per_page=2), topics=PollTopics("raw", "runs",
                                                                                 "cmd"),
                  zoho=zoho, sink=sink, state=state)


async def test_a_command_runs_once_even_when_redelivered() -> None:
    zoho, state, sink = FakeZoho(), MemoryPollState(), MemorySink()
    zoho.put("contact", "c1", T0)
    zoho.put("contact", "c2", T0 + minutes(1))
    poller = _poller(zoho, state, sink)
    command = _command(entity_types=["customers"], mode="full", options={"batch_size": "1"})
    await poller.handle_command(command)
    await poller.handle_command(command)
    assert poller._manual.qsize() == 1
    record = await poller._manual.get()
    assert record.entity_types == ("contact",) and record.trigger == "command"
    final = await poller.execute(record)
    assert final.status == "completed" and final.sent == 2
    raws = [decode_event(m.value) for m in sink.topics["raw"]]
    assert all(isinstance(e, RawEvent) and e.source == "poll.manual" for e in raws)
    assert ("list", ("contact", None, 1)) in zoho.calls  # batch_size option → per_page


async def test_a_command_for_an_unknown_type_fails_visibly() -> None:
    state, sink = MemoryPollState(), MemorySink()
    poller = _poller(FakeZoho(), state, sink)
    await poller.handle_command(_command(entity_types=["journals"]))
    assert poller._manual.empty()
    (event,) = [decode_event(m.value) for m in sink.topics["runs"]]
    assert isinstance(event, SyncRunEvent) and event.status == "failed"
    assert "journals" in (event.error or "")
    assert (await state.run("run-1")).status == "failed"  # type: ignore[union-attr]


async def test_stale_runs_are_reported_failed() -> None:
    state, sink = MemoryPollState(), MemorySink()
    poller = _poller(FakeZoho(), state, sink)
    record = poller.new_record("incremental", trigger="schedule", entity_types=["item"])
    assert await state.claim(record)
    state.beats[record.run_key] = datetime(2000, 1, 1, tzinfo=UTC)
    stale = await state.sweep(90)
    await poller.report_stale(stale)
    (event,) = [decode_event(m.value) for m in sink.topics["runs"]]
    assert isinstance(event, SyncRunEvent) and event.status == "failed"
    assert event.run_id == record.run_id


def test_auto_sync_off_schedules_nothing() -> None:
    poller = Poller(config=PollerConfig(org_id=ORG, auto_sync=False),
                    topics=PollTopics(), zoho=FakeZoho(), sink=MemorySink(),
                    state=MemoryPollState())
    assert poller.periodic() == []
    on = Poller(config=PollerConfig(org_id=ORG, stock_interval_s=60, reconcile_interval_s=30),
                topics=PollTopics(), zoho=FakeZoho(), sink=MemorySink(),
                state=MemoryPollState())
    assert [(p.run_type, p.interval_s) for p in on.periodic()] == [
        ("full", 86_400), ("incremental", 30), ("stock", 60)]
    no_full = Poller(config=PollerConfig(org_id=ORG, full_interval_s=0), topics=PollTopics(),
                     zoho=FakeZoho(), sink=MemorySink(), state=MemoryPollState())
    assert [p.run_type for p in no_full.periodic()] == ["incremental", "stock"]


async def test_a_new_scheduler_takes_over_the_runs_of_a_dead_one_at_once() -> None:
    state = MemoryPollState()
    now = [1000.0]
    fired: list[RunRecord] = []

    async def fire(record: RunRecord) -> None:
        fired.append(record)

    old = PollerConfig(org_id=ORG, owner="vm:1", tick_s=0.01, stale_after_s=90)
    dead = Scheduler(leadership=FakeLeadership(), state=state, config=old,  # type: ignore[arg-type]
                     periodic=[Periodic("incremental", 6.0, ("item",), fire)],
                     on_stale=lambda runs: asyncio.sleep(0), clock=lambda: now[0])
    await dead._tick()  # claims a slot; its process is then SIGKILLed mid-run
    await asyncio.sleep(0)
    manual = RunRecord(run_key="cmd-1", run_id="m1", org_id=ORG, run_type="stock",
                       trigger="command", entity_types=("item",), owner="vm:1")
    assert await state.claim(manual)  # a manual run is not the scheduler's to end
    now[0] = 1007.0  # the next slot, seconds later: well inside stale_after_s
    reported: list[RunRecord] = []

    async def on_stale(runs: list[RunRecord]) -> None:
        reported.extend(runs)

    new = Scheduler(leadership=FakeLeadership(), state=state,  # type: ignore[arg-type]
                    config=replace(old, owner="vm:2"),
                    periodic=[Periodic("incremental", 6.0, ("item",), fire)],
                    on_stale=on_stale, clock=lambda: now[0])
    stop = asyncio.Event()
    task = asyncio.create_task(new.run(stop))
    for _ in range(50):  # bounded: the first tick adopts and fires
        await asyncio.sleep(0.01)
        if len(fired) == 2:
            break
    stop.set()
    await asyncio.wait_for(task, 2)
    assert [r.run_id for r in reported] == [fired[0].run_id]
    assert reported[0].status == "failed"
    assert [r.owner for r in fired] == ["vm:1", "vm:2"]  # the next slot ran at once
    kept = await state.run("m1")
    assert kept is not None and kept.status == "started"


def test_each_run_spends_the_budget_in_its_class() -> None:
    poller = _poller(FakeZoho(), MemoryPollState(), MemorySink())
    classes = {(r.trigger, r.run_type): priority_of(r) for r in (
        poller.new_record("full", trigger="command", entity_types=("item",)),
        poller.new_record("full", trigger="schedule", entity_types=("item",)),
        poller.new_record("incremental", trigger="schedule", entity_types=("item",)),
        poller.new_record("stock", trigger="schedule", entity_types=("item",)))}
    assert classes == {("command", "full"): Priority.MANUAL,
                       ("schedule", "full"): Priority.FULL,
                       ("schedule", "incremental"): Priority.SCHEDULED,
                       ("schedule", "stock"): Priority.SCHEDULED}


async def test_a_fresh_start_fires_the_full_sync_alone_then_the_stock_sync() -> None:
    state = MemoryPollState()
    fired, release, fire = _held(state)

    poller = Poller(config=PollerConfig(org_id=ORG), topics=PollTopics(), zoho=FakeZoho(),
                    sink=MemorySink(), state=state)
    periodic = [replace(p, fire=fire) for p in poller.periodic()]
    scheduler = Scheduler(
        leadership=FakeLeadership(), state=state,  # type: ignore[arg-type]
        config=PollerConfig(org_id=ORG), periodic=periodic,
        on_stale=lambda runs: asyncio.sleep(0), clock=lambda: 1_000_000.0)
    await scheduler._tick()
    await asyncio.sleep(0)
    assert [r.run_type for r in fired] == ["full"]  # the incremental joined it
    await scheduler._tick()
    await asyncio.sleep(0)
    assert [r.run_type for r in fired] == ["full"]  # the stock sync waits for it
    release.set()
    for _ in range(3):
        await asyncio.sleep(0)
    await scheduler._tick()
    await asyncio.sleep(0)
    assert [r.run_type for r in fired] == ["full", "stock"]


async def test_a_requested_sync_joins_a_running_run_that_reads_as_much() -> None:
    state, sink = MemoryPollState(), MemorySink()
    poller = _poller(FakeZoho(), state, sink)
    full = poller.new_record("full", trigger="schedule", entity_types=("item", "contact"))
    assert await state.claim(full)
    await poller.handle_command(_command(run_id="r-narrower", entity_types=["item"]))
    joined = await state.run("r-narrower")
    assert joined is not None and joined.status == "joined"
    assert joined.configuration["joined"] == full.run_id
    events = [decode_event(m.value) for m in sink.topics[poller.topics.runs]]
    assert [(e.run_id, e.status) for e in events if isinstance(e, SyncRunEvent)] == [
        ("r-narrower", "joined")]
    # Wider than what runs, or an incremental asking for a full read: a run of its own.
    await poller.handle_command(_command(run_id="r-wider", entity_types=["item", "invoice"]))
    wider = await state.run("r-wider")
    assert wider is not None and wider.status == "started"
