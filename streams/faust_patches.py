"""Changes to faust-streaming's consumer, applied once per process before the app's
consumer starts: shorter fetch waits (speed), a fetch loop of our own that hands each
acked partition's records to the agents without holes (no event is lost) and without a
task per record (speed), and a re-read from the commits whenever faust resumes its flow
(what its resume drops is read again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine, Generator, Iterable
from enum import Enum
from typing import Any

from aiokafka.errors import IllegalStateError

logger = logging.getLogger(__name__)


def short_fetch_waits(wait_ms: int) -> None:
    """faust's aiokafka driver fixes the consumer's fetch_max_wait_ms at 1500 ms. aiokafka
    keeps one fetch in flight per broker, so while an idle partition's long poll (sync
    runs, the ledger; realtime's, before it was read outside faust) is held, fetched-out
    bulk partitions wait for it: bulk ran at ~40% of the batched engine's rate. Shorter
    waits, set on the consumer before it starts its fetcher."""
    from faust.transport.drivers import aiokafka as driver

    create = driver.AIOKafkaConsumerThread._create_worker_consumer
    if getattr(create, "tds_wait_ms", None) == wait_ms:
        return

    def create_with_short_waits(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = wait_ms
        return consumer

    create_with_short_waits.tds_wait_ms = wait_ms  # type: ignore[attr-defined]
    driver.AIOKafkaConsumerThread._create_worker_consumer = create_with_short_waits  # type: ignore[method-assign]


class Verdict(Enum):
    DELIVER = "deliver"
    DROP = "drop"  # read before
    RESEEK = "reseek"  # a hole before it: read the partition again from its next offset
    GAP = "gap"  # the same hole after RESEEKS re-reads: offsets the log does not have


RESEEKS = 2


class Contiguity:
    """Which record of a partition the agents get next.

    faust's fetch loop hands out whatever the fetcher returns and, when a partition's
    offsets jump, counts the skipped offsets as acked (meant for transaction markers and
    compaction). But its fetcher skips records itself: a fetch issued before a seek (the
    one every rebalance ends with) returns records from the old position, and a partition
    paused mid-batch loses the batch's rest without a seek. Seen with two workers on two
    busy cores: 165 and 169 events of two partitions committed with no output, and a
    partition whose commit stayed at offset 3 for minutes while its events were processed.

    Here a partition's records are delivered only in order from the offset the last seek
    set; a record past the next one re-reads the partition from there, and only a hole
    seen again after RESEEKS re-reads is a real one, handed to faust's gap bookkeeping.
    A partition with no known position (never committed, or assigned and not sought yet)
    takes its first record, as under faust: records from before a seek are at worst
    processed twice (the seek that ends a rebalance brings the partition back to its
    commit), never skipped. Dropping them instead left a worker idle after an engine
    switch: faust's seek came, but nothing was fetched after it."""

    def __init__(self) -> None:
        self._next: dict[Any, int | None] = {}  # tp → next offset; None, absent: any
        self._holes: dict[Any, tuple[int, int, int]] = {}  # tp → (next, seen, times)

    def seeked(self, offsets: Iterable[tuple[Any, int | None]]) -> None:
        for tp, offset in offsets:
            self._next[tp] = offset if offset is not None and offset >= 0 else None
            self._holes.pop(tp, None)

    def revoked(self, tps: Iterable[Any]) -> None:
        for tp in tps:
            self._next.pop(tp, None)
            self._holes.pop(tp, None)

    def expected(self, tp: Any) -> int | None:
        return self._next.get(tp)

    def check(self, tp: Any, offset: int) -> Verdict:
        wanted = self._next.get(tp)
        if wanted is None or offset == wanted:
            return Verdict.DELIVER
        if offset < wanted:
            return Verdict.DROP
        was = self._holes.get(tp)
        times = was[2] + 1 if was is not None and was[:2] == (wanted, offset) else 1
        self._holes[tp] = (wanted, offset, times)
        return Verdict.GAP if times > RESEEKS else Verdict.RESEEK

    def delivered(self, tp: Any, offset: int) -> None:
        self._next[tp] = offset + 1
        self._holes.pop(tp, None)


class _Rest:
    """The rest of a coroutine that already ran up to its first suspension: awaiting this
    hands the awaitable it stopped on to the task, then goes on sending and throwing into
    the coroutine as a task would."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro, self._pending = coro, pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self._coro, self._pending
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a task's throw, handed on as is
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _finish(rest: _Rest) -> Any:
    return await rest


def deliver_inline(delivery: Coroutine[Any, Any, Any]) -> Awaitable[Any] | None:
    """Run a delivery up to its first suspension: None when it finished there (almost
    always: the stream's buffer has room), else a task that finishes it."""
    try:
        pending = delivery.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_finish(_Rest(delivery, pending)))


async def admit(consumer: Any, order: Contiguity, verdict: Verdict, tp: Any, offset: int,
                rereading: set[Any]) -> bool:
    """What the fetch loop does with a record that is not the next one: False when it is
    not delivered (read before; or a hole: the partition is read again from its next
    offset and the rest of its records in this batch are skipped), True when it is (a
    hole seen again after every re-read, handed to faust's gap bookkeeping first)."""
    if verdict is Verdict.DROP:
        return False
    wanted = order.expected(tp)
    assert wanted is not None  # a hole has a next offset
    if verdict is Verdict.RESEEK:
        logger.info("%s[%d]: fetched offset %d where %d was next; reading again from %d",
                    tp.topic, tp.partition, offset, wanted, wanted)
        # Its records left in this batch are from the old position; the other
        # partitions' are not: breaking off the batch would make holes in them.
        rereading.add(tp)
        try:
            await consumer.seek_wait({tp: wanted})
        except (TimeoutError, IllegalStateError) as exc:
            # Revoked since the check (its next owner starts at the commit, which this
            # worker never moved past the hole), or the position was slow to come: the
            # partition's later records are still skipped, and the next batch checks again.
            logger.warning("%s[%d]: reading again from %d failed: %r", tp.topic,
                           tp.partition, wanted, exc)
        return False
    logger.info("%s[%d]: offsets %d-%d are not in the log", tp.topic, tp.partition, wanted,
                offset - 1)
    await consumer._add_gap(tp, wanted, offset - 1)
    return True


def contiguous_fetch() -> None:
    """Install our fetch loop (`Contiguity` says why) on faust's consumer.

    Besides holes, it saves faust's per-record `wait_first(deliver, suspend_flow.wait())`,
    four tasks and an `asyncio.wait` per record (~15% of a worker's samples draining a
    backlog): a delivery runs inline up to its first suspension, and only one that does
    suspend (a full buffer) goes on under faust's `wait_first`, so a suspended flow or a
    stopping consumer still interrupts it. The loop yields to the event loop every 100
    records, as faust's does."""
    from faust.transport.consumer import CONSUMER_FETCHING, Consumer

    if getattr(Consumer._drain_messages, "tds_contiguous", False):
        return
    perform_seek, seek, revoked = (Consumer.perform_seek, Consumer.seek,
                                   Consumer.on_partitions_revoked)

    def contiguity(self: Any) -> Contiguity:
        found: Contiguity | None = self.__dict__.get("_tds_contiguity")
        if found is None:
            found = self.__dict__["_tds_contiguity"] = Contiguity()
        return found

    async def perform_seek_tracked(self: Any) -> None:
        await perform_seek(self)
        contiguity(self).seeked(self._read_offset.items())

    async def seek_tracked(self: Any, partition: Any, offset: int) -> None:
        await seek(self, partition, offset)
        contiguity(self).seeked([(partition, offset)])

    async def on_partitions_revoked_tracked(self: Any, tps: Any) -> None:
        contiguity(self).revoked(tps)
        await revoked(self, tps)

    async def drain(self: Any, fetcher: Any) -> None:
        order = contiguity(self)
        callback, acks_enabled_for = self.callback, self.app.topics.acks_enabled_for
        read_offsets = self._read_offset
        since_yield = 0
        try:
            while not (self._stopped.is_set() or fetcher._stopped.is_set()):
                self.diag.set_flag(CONSUMER_FETCHING)
                batch = self.getmany(timeout=1.0)
                await self.sleep(0)
                if self.should_stop:
                    await batch.aclose()
                    continue
                rereading: set[Any] = set()  # partitions sought back in this batch
                async for tp, message in batch:
                    since_yield += 1
                    if since_yield > 100:
                        await asyncio.sleep(0)
                        since_yield = 0
                    offset = message.offset
                    if acks_enabled_for(message.topic):
                        if tp in rereading:
                            continue
                        verdict = order.check(tp, offset)
                        if verdict is not Verdict.DELIVER and not await admit(
                                self, order, verdict, tp, offset, rereading):
                            continue
                        order.delivered(tp, offset)
                    else:  # changelogs: faust's rule
                        last = read_offsets[tp]
                        if last is not None and offset < last:
                            continue
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    rest = deliver_inline(callback(message))
                    if rest is not None:
                        await self.wait_first(rest, self.suspend_flow.wait())
                    read_offsets[tp] = offset
                await batch.aclose()
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    drain.tds_contiguous = True  # type: ignore[attr-defined]
    Consumer._drain_messages = drain  # type: ignore[method-assign]
    Consumer.perform_seek = perform_seek_tracked  # type: ignore[method-assign]
    Consumer.seek = seek_tracked  # type: ignore[method-assign]
    Consumer.on_partitions_revoked = on_partitions_revoked_tracked  # type: ignore[method-assign]


def reread_after_resume(app: Any) -> None:
    """Read every partition again from its commit whenever faust resumes its flow.

    faust's `FlowControlEvent.resume` clears the streams' buffers: events delivered to an
    agent and not processed yet are dropped, and faust counts on the seek to the commit
    that comes before it to bring them back. But records handed out after that seek (a
    fetch answered meanwhile; seen when a worker starts after a rebalance, and on an
    engine switch) leave the fetch position past the dropped events, and nothing reads
    them again: the agent never saw them, their offsets were never acked, and the
    partition's commit stayed there for good (`test_switching_engines_keeps_the_state`
    failed so in 4 of 6 runs of its file). A seek after the clear reads them again; events
    already processed and not committed yet come twice, which at least once allows (the
    version rule publishes the same version with the same event id)."""
    flow = app.flow_control
    if getattr(flow.resume, "tds_reread", False):
        return
    resume = flow.resume
    pending: set[asyncio.Task[None]] = set()  # referenced until done

    def resume_and_reread() -> None:
        consumer = app._consumer  # None before the app made one: nothing fetched yet
        if consumer is not None:
            forget_buffered(flow, consumer)
        resume()
        if consumer is not None:
            task = asyncio.ensure_future(_reread(consumer))
            pending.add(task)
            task.add_done_callback(pending.discard)

    resume_and_reread.tds_reread = True  # type: ignore[attr-defined]
    flow.resume = resume_and_reread


def forget_buffered(flow: Any, consumer: Any) -> None:
    """Take the events in the streams' buffers, which `resume` is about to drop, out of
    faust's set of delivered and unacked messages: they come again as new messages after
    the seek, and a stopping worker waited for these ones to be processed, in vain."""
    for queue in list(flow._queues or ()):
        for event in list(queue._queue):
            message = getattr(event, "message", None)
            if message is not None:
                consumer._unacked_messages.discard(message)


async def _reread(consumer: Any) -> None:
    try:
        await consumer.perform_seek()
    except Exception as exc:  # a rebalance under way: its own seek comes after it
        logger.warning("reading the partitions again from their commits failed: %r", exc)
