"""Our fetch loop under faust: records of a partition in order from the last seek, holes
re-read before they count as gaps, and deliveries inline unless they suspend."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from aiokafka.errors import IllegalStateError
from faust.types import TP
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from streams.faust_patches import (
    RESEEKS,
    Contiguity,
    Verdict,
    admit,
    deliver_inline,
    reread_after_resume,
)

BULK = TP("zoho.raw.bulk", 4)


def _seeked(offset: int | None) -> Contiguity:
    order = Contiguity()
    order.seeked([(BULK, offset)])
    return order


def test_records_flow_in_order_from_the_seek() -> None:
    order = _seeked(1030)
    for offset in range(1030, 1035):
        assert order.check(BULK, offset) is Verdict.DELIVER
        order.delivered(BULK, offset)
    assert order.check(BULK, 1033) is Verdict.DROP  # read before


def test_a_stale_fetch_after_a_seek_is_read_again_not_counted_as_acked() -> None:
    # The fetch issued before the rebalance's seek to 1030 returns 1195 (seen in a two-
    # worker run: faust counted 1030-1194 acked, and their events never had an output).
    order = _seeked(1030)
    assert order.check(BULK, 1195) is Verdict.RESEEK
    assert order.expected(BULK) == 1030
    assert order.check(BULK, 1030) is Verdict.DELIVER  # the re-read starts where it must


def test_a_hole_seen_again_after_every_re_read_is_a_gap() -> None:
    # Transaction markers and compaction leave offsets the log does not have.
    order = _seeked(40)
    verdicts = [order.check(BULK, 42) for _ in range(RESEEKS + 1)]
    assert verdicts == [Verdict.RESEEK] * RESEEKS + [Verdict.GAP]
    order.delivered(BULK, 42)
    assert order.check(BULK, 43) is Verdict.DELIVER


def test_a_different_hole_starts_counting_again() -> None:
    order = _seeked(40)
    assert order.check(BULK, 60) is Verdict.RESEEK
    assert order.check(BULK, 61) is Verdict.RESEEK
    assert order.check(BULK, 61) is Verdict.RESEEK
    assert order.check(BULK, 61) is Verdict.GAP


def test_a_partition_not_sought_yet_takes_what_is_fetched_until_its_seek() -> None:
    # As under faust: at worst processed twice; the seek that ends a rebalance brings the
    # partition back to its commit. (Dropping them left a worker idle after an engine
    # switch.)
    order = _seeked(7)
    order.revoked([BULK])
    assert order.check(BULK, 152) is Verdict.DELIVER
    order.delivered(BULK, 152)
    order.seeked([(BULK, 76)])
    assert order.check(BULK, 153) is Verdict.RESEEK
    assert order.check(BULK, 76) is Verdict.DELIVER


def test_a_partition_never_committed_takes_its_first_record() -> None:
    order = _seeked(None)
    assert order.check(BULK, 500) is Verdict.DELIVER
    order.delivered(BULK, 500)
    assert order.check(BULK, 502) is Verdict.RESEEK


class FakeConsumer:
    """What `admit` calls on faust's consumer: seek_wait (failing if told to), _add_gap."""

    def __init__(self, seek_fails: BaseException | None = None) -> None:
        self.seek_fails = seek_fails
        self.seeks: list[dict[Any, int]] = []
        self.gaps: list[tuple[Any, int, int]] = []

    async def seek_wait(self, partitions: dict[Any, int]) -> None:
        if self.seek_fails is not None:
            raise self.seek_fails
        self.seeks.append(dict(partitions))

    async def _add_gap(self, tp: Any, start: int, end: int) -> None:
        self.gaps.append((tp, start, end))


async def _admit(consumer: FakeConsumer, order: Contiguity, offset: int,
                 rereading: set[Any]) -> bool:
    return await admit(consumer, order, order.check(BULK, offset), BULK, offset, rereading)


async def test_a_hole_reads_the_partition_again_and_skips_the_rest_of_its_batch() -> None:
    consumer, order, rereading = FakeConsumer(), _seeked(1030), set[Any]()
    assert not await _admit(consumer, order, 1195, rereading)
    assert consumer.seeks == [{BULK: 1030}] and rereading == {BULK}
    assert consumer.gaps == []
    assert not await _admit(consumer, order, 1000, set())  # read before: dropped, no seek
    assert consumer.seeks == [{BULK: 1030}]


async def test_a_hole_after_every_re_read_goes_to_the_gap_bookkeeping() -> None:
    consumer, order = FakeConsumer(), _seeked(1030)
    for _ in range(RESEEKS):
        assert not await _admit(consumer, order, 1195, set())
    assert await _admit(consumer, order, 1195, set())
    assert consumer.gaps == [(BULK, 1030, 1194)] and len(consumer.seeks) == RESEEKS


@pytest.mark.parametrize("error", [IllegalStateError("No current assignment"),
                                   TimeoutError()])
async def test_a_re_read_of_a_partition_revoked_meanwhile_does_not_stop_the_loop(
        error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    # Revoked between the check and the seek: aiokafka refuses the seek. The loop goes on
    # (the next owner starts at the commit, never moved past the hole); nothing delivered.
    consumer, order, rereading = FakeConsumer(seek_fails=error), _seeked(1030), set[Any]()
    assert not await _admit(consumer, order, 1195, rereading)
    assert rereading == {BULK} and consumer.gaps == []
    assert "reading again from 1030 failed" in caplog.text


def test_a_delivery_that_does_not_suspend_runs_inline() -> None:
    async def deliver() -> str:
        return "delivered"

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert deliver_inline(deliver()) is None


async def test_a_delivery_that_suspends_finishes_in_a_task() -> None:
    room = asyncio.Event()
    steps: list[str] = []

    async def deliver() -> str:
        steps.append("before")
        await room.wait()
        await asyncio.sleep(0)
        steps.append("after")
        return "delivered"

    rest = deliver_inline(deliver())
    assert rest is not None and steps == ["before"]
    asyncio.get_running_loop().call_later(0.01, room.set)
    assert await asyncio.wait_for(rest, 5) == "delivered"
    assert steps == ["before", "after"]


async def test_cancelling_a_suspended_delivery_reaches_it() -> None:
    cancelled = asyncio.Event()

    async def deliver() -> None:
        try:
            await asyncio.Event().wait()  # a full buffer that never drains
        except asyncio.CancelledError:
            cancelled.set()
            raise

    rest: Any = deliver_inline(deliver())
    await asyncio.sleep(0)
    rest.cancel()
    await asyncio.wait_for(cancelled.wait(), 5)
    with pytest.raises(asyncio.CancelledError):
        await rest


@pytest.mark.parametrize("suspend_first", [False, True])
async def test_a_failing_delivery_raises(suspend_first: bool) -> None:
    async def deliver() -> None:
        if suspend_first:
            await asyncio.sleep(0)
        raise ValueError("no channel for this partition")

    with pytest.raises(ValueError, match="no channel"):
        rest = deliver_inline(deliver())
        assert rest is not None
        await rest


class SeekingConsumer:
    """faust's consumer as `reread_after_resume` sees it: its unacked set and its seek."""

    def __init__(self, flow: FlowControlEvent, fails: bool = False) -> None:
        self.flow, self.fails = flow, fails
        self._unacked_messages: set[Any] = set()
        self.seeks: list[int] = []  # events still buffered at each seek

    async def perform_seek(self) -> None:
        if self.fails:
            raise IllegalStateError("rebalancing")
        queues: Any = self.flow._queues
        self.seeks.append(sum(len(queue._queue) for queue in queues))


class FakeApp:
    def __init__(self, fails: bool = False) -> None:
        self.flow_control = FlowControlEvent(initially_suspended=False)
        self._consumer: SeekingConsumer | None = SeekingConsumer(self.flow_control, fails)


class Delivered:
    def __init__(self, offset: int) -> None:
        self.message = ("bulk", offset)


async def test_resuming_the_flow_reads_the_dropped_events_again() -> None:
    # faust's resume clears the streams' buffers: events delivered after its seek were
    # lost for good (the commit stuck before them). A seek after the clear brings them back.
    app = FakeApp()
    reread_after_resume(app)
    reread_after_resume(app)  # once only
    queue: ThrowableQueue[Delivered] = ThrowableQueue(flow_control=app.flow_control,
                                                      clear_on_resume=True)
    delivered = [Delivered(n) for n in range(49, 52)]
    for event in delivered:
        queue.put_nowait(event)
    consumer = app._consumer
    assert consumer is not None
    consumer._unacked_messages |= {e.message for e in delivered} | {("bulk", 48)}
    app.flow_control.suspend()
    app.flow_control.resume()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert consumer.seeks == [0]  # one seek, after the buffer was cleared
    # The dropped events are no longer awaited (a stop waited 5 s for them in vain);
    # the one an agent holds still is.
    assert consumer._unacked_messages == {("bulk", 48)}


async def test_a_failed_seek_is_logged_and_does_not_stop_the_worker(
        caplog: pytest.LogCaptureFixture) -> None:
    app = FakeApp(fails=True)
    reread_after_resume(app)
    app.flow_control.resume()
    for _ in range(3):
        await asyncio.sleep(0)
    assert "reading the partitions again from their commits failed" in caplog.text


def test_no_seek_before_the_app_has_a_consumer() -> None:
    app = FakeApp()
    app._consumer = None
    reread_after_resume(app)
    app.flow_control.resume()  # no loop needed: nothing is scheduled
