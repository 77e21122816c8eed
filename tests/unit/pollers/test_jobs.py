"""Stock sync, reconcile and full sync with a fake Zoho, a memory sink and memory state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import orjson
import pytest

from producers.pollers import jobs
from producers.pollers.config import PollerConfig, PollTopics
from producers.pollers.messages import Message
from producers.pollers.publisher import MemorySink
from producers.pollers.runs import SyncRun
from producers.pollers.state import MemoryPollState, RunRecord
from producers.zoho.errors import ZohoServerError
from schemas.cloudevents import header_map, parse_ce
from schemas.events import RawEvent, SyncRunEvent, decode_event
from schemas.topics import parse_key
from tests.unit.pollers.fakes import T0, FakeZoho, minutes

ORG = "777"
TOPICS = PollTopics(raw="raw", runs="runs", commands="cmd")


def _config(**kw: object) -> PollerConfig:
    return PollerConfig(org_id=ORG, per_page=2, overlap_s=60, **kw)  # type: ignore[arg-type]


def _run(run_type: str, types: tuple[str, ...], sink: MemorySink, state: MemoryPollState,
         source: str, progress_s: float = 3.0) -> SyncRun:
    record = RunRecord(run_key=f"k-{len(state.runs)}", run_id=f"r{len(state.runs)}",
                       org_id=ORG, run_type=run_type, trigger="schedule", entity_types=types,
                       owner="me")
    state.runs[record.run_key] = record
    state.beats[record.run_key] = T0
    return SyncRun(record, source=source, sink=sink, topics=TOPICS, state=state,
                   progress_s=progress_s)


def _raw(messages: list[Message]) -> list[RawEvent]:
    out = []
    for m in messages:
        event = decode_event(m.value)
        assert isinstance(event, RawEvent)
        out.append(event)
    return out


def _runs(sink: MemorySink) -> list[SyncRunEvent]:
    out = []
    for m in sink.topics.get("runs", []):
        event = decode_event(m.value)
        assert isinstance(event, SyncRunEvent)
        out.append(event)
    return out


def _at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def _zoho() -> FakeZoho:
    zoho = FakeZoho()
    for n in range(5):
        zoho.put("item", f"i{n}", T0 + minutes(n), name=f"item {n}", sku=f"S{n}")
    for n in range(3):
        zoho.put("invoice", f"v{n}", T0 + minutes(n), total=n)
    return zoho


async def test_stock_sync_first_sweeps_then_reads_changes_only() -> None:
    zoho, sink, state = _zoho(), MemorySink(), MemoryPollState()
    run = _run("stock", ("item",), sink, state, "poll.stock")
    async with run:
        await jobs.stock_sync(run, zoho, state, _config(), clock=lambda: T0 + minutes(10))
    events = _raw(sink.topics["raw"])
    assert [e.entity_id for e in events] == [f"i{n}" for n in range(5)]
    first = events[0]
    assert (first.entity_type, first.event_kind, first.source) == ("stock", "snapshot",
                                                                   "poll.stock")
    assert orjson.loads(first.body)["locations"][0]["location_id"] == "L1"
    assert first.sync_run_id == run.run_id and first.content_type == "application/json"
    assert not first.signature_verified
    key = sink.topics["raw"][0].key
    assert parse_key(key) == (ORG, "stock", "i0")
    assert parse_ce(sink.topics["raw"][0].headers).type == "zoho.record.polled"
    assert state.cursors[(ORG, "stock")] == T0 + minutes(4)
    started, completed = _runs(sink)
    assert (started.status, completed.status) == ("started", "completed")
    assert completed.sent == completed.seen == 5
    assert started.configuration["mode"] == "full"

    zoho.put("item", "i1", T0 + minutes(20), name="changed")
    sink2 = MemorySink()
    run = _run("stock", ("item",), sink2, state, "poll.stock")
    async with run:
        await jobs.stock_sync(run, zoho, state, _config(), clock=lambda: T0 + minutes(30))
    ids = [e.entity_id for e in _raw(sink2.topics["raw"])]
    assert ids == ["i3", "i4", "i1"]  # since cursor (4 min) minus the 1-minute overlap
    assert _runs(sink2)[0].configuration["mode"] == "incremental"
    assert _runs(sink2)[0].expected is None


async def test_stock_sweeps_again_when_asked_or_after_a_day() -> None:
    zoho, state = _zoho(), MemoryPollState()
    for sweep, when in ((False, 10), (True, 20), (False, 30 + 24 * 60)):
        sink = MemorySink()
        run = _run("stock", ("item",), sink, state, "poll.stock")
        async with run:
            await jobs.stock_sync(run, zoho, state, _config(), sweep=sweep,
                                  clock=_at(T0 + minutes(when)))
        assert len(sink.topics["raw"]) == 5
        if when == 20:
            assert _runs(sink)[0].expected == 5  # the last full sweep's count


async def test_reconcile_keeps_a_cursor_per_type_with_overlap() -> None:
    zoho, state = _zoho(), MemoryPollState()
    sink = MemorySink()
    run = _run("incremental", ("item", "invoice", "bill"), sink, state, "poll.incremental")
    async with run:
        await jobs.reconcile(run, zoho, state, _config())
    events = _raw(sink.topics["raw"])
    assert len(events) == 8 and {e.source for e in events} == {"poll.full"}  # initial
    assert state.cursors[(ORG, "item")] == T0 + minutes(4)
    assert state.cursors[(ORG, "invoice")] == T0 + minutes(2)
    assert (ORG, "bill") not in state.cursors  # nothing seen: no cursor (Zoho times only)
    assert _runs(sink)[0].configuration["initial"] == "bill,invoice,item"

    zoho.put("invoice", "v9", T0 + minutes(15))
    zoho.put("bill", "b1", T0 + minutes(16))
    sink = MemorySink()
    run = _run("incremental", ("item", "invoice", "bill"), sink, state, "poll.incremental")
    async with run:
        await jobs.reconcile(run, zoho, state, _config())
    events = _raw(sink.topics["raw"])
    assert [(e.entity_type, e.entity_id) for e in events] == [
        ("item", "i3"), ("item", "i4"), ("invoice", "v1"), ("invoice", "v2"),
        ("invoice", "v9"), ("bill", "b1")]
    assert [e.source for e in events][-1] == "poll.full"  # bills had no cursor yet


async def test_a_failed_pull_reports_failed_and_keeps_the_cursor() -> None:
    zoho, state, sink = _zoho(), MemoryPollState(), MemorySink()

    async def broken(*args: object, **kwargs: object) -> AsyncIterator[object]:
        raise ZohoServerError("boom", status=500)
        yield  # pragma: no cover  # makes this an async generator

    zoho.iter_pages = broken  # type: ignore[method-assign,assignment]
    run = _run("incremental", ("item",), sink, state, "poll.incremental")
    with pytest.raises(ZohoServerError):
        async with run:
            await jobs.reconcile(run, zoho, state, _config())
    _started, failed = _runs(sink)
    assert failed.status == "failed" and "boom" in (failed.error or "")
    assert (ORG, "item") not in state.cursors
    assert state.runs[run.record.run_key].status == "failed"


async def test_full_sync_reports_confirmed_deletes() -> None:
    zoho, state, sink = _zoho(), MemoryPollState(), MemorySink()
    known = {"item": ["i0", "i1", "gone1", "gone2"], "invoice": ["v0", "late", "gone3"]}

    async def known_ids(entity_type: str) -> AsyncIterator[str]:
        if entity_type == "invoice":  # created after the listing, seen in TDS by webhook
            zoho.put("invoice", "late", T0 + minutes(30))
        for i in known.get(entity_type, []):
            yield i

    run = _run("full", ("item", "invoice"), sink, state, "poll.full")
    async with run:
        await jobs.full_sync(run, zoho, state, _config(), known_ids=known_ids)
    events = _raw(sink.topics["raw"])
    deleted = [(e.entity_type, e.entity_id) for e in events if e.event_kind == "deleted"]
    assert deleted == [("item", "gone1"), ("item", "gone2"), ("invoice", "gone3")]
    body = next(e.body for e in events if e.entity_id == "gone3")
    assert orjson.loads(body) == {"invoice_id": "gone3"}
    completed = _runs(sink)[-1]
    assert (completed.deleted, completed.seen, completed.sent) == (3, 8, 11)
    assert ("details", ["gone1", "gone2"]) in zoho.calls  # confirmed in one bulk call


async def test_full_sync_of_chosen_ids() -> None:
    zoho, state, sink = _zoho(), MemoryPollState(), MemorySink()
    run = _run("full", ("invoice",), sink, state, "poll.manual")
    async with run:
        await jobs.full_sync(run, zoho, state, _config(), ids=["v1", "nope"])
    assert [e.entity_id for e in _raw(sink.topics["raw"])] == ["v1"]
    started = _runs(sink)[0]
    assert started.expected == 2 and started.configuration["mode"] == "ids"


def test_run_events_have_cloudevents_headers() -> None:
    from producers.pollers.messages import run_event

    m = run_event(run_id="r1", status="completed", run_type="full", org_id=ORG,
                  entity_types=["item"], at=T0, started_at=T0, sent=3)
    assert parse_key(m.key) == (ORG, "sync_run", "r1")
    assert header_map(m.headers)["ce_type"] == b"tds.sync.completed"
    event = decode_event(m.value)
    assert isinstance(event, SyncRunEvent) and event.sent == 3


async def test_a_run_reports_its_progress_while_it_goes() -> None:
    zoho, sink, state = FakeZoho(), MemorySink(), MemoryPollState()
    for n in range(5):
        zoho.put("contact", f"c{n}", T0 + minutes(n))
    run = _run("full", ("contact",), sink, state, "poll.full", progress_s=0.001)
    gate = asyncio.Event()
    async with run:
        await run.start(None)
        async for page in zoho.iter_pages("contact", per_page=2):
            run.page_read("contact", {**page.context, "total": 5})
            await run.publish_records("contact", page.records, page.id_field)
            if page.page == 1:
                for _ in range(100):  # bounded: the progress loop reports within a few ticks
                    await asyncio.sleep(0.005)
                    if len(_runs(sink)) > 1:
                        gate.set()
                        break
    assert gate.is_set()
    statuses = [(e.status, e.seen, [(x.entity_type, x.pages, x.total) for x in e.entities])
                for e in _runs(sink)]
    assert statuses[0] == ("started", 0, [])
    assert statuses[1] == ("started", 2, [("contact", 1, 5)])  # before the run ended
    assert statuses[-1] == ("completed", 5, [("contact", 3, 5)])


async def test_a_run_that_has_not_moved_repeats_no_started() -> None:
    sink, state = MemorySink(), MemoryPollState()
    run = _run("full", ("contact",), sink, state, "poll.full", progress_s=0.001)
    async with run:
        await run.start(None)
        await asyncio.sleep(0.05)  # dozens of progress ticks, nothing read
    assert [e.status for e in _runs(sink)] == ["started", "completed"]
