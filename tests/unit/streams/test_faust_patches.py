"""Our fetch loop under faust: records of a partition in order from the last seek, holes
re-read before they count as gaps, and deliveries inline unless they suspend."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from faust.types import TP

from streams.faust_patches import RESEEKS, Contiguity, Verdict, deliver_inline

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
