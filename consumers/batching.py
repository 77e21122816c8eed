"""The batching consumer loop shared by the projector and the image cache.

A confluent-kafka consumer group member that hands batches (up to `batch_size` messages,
or what arrived within `max_wait_s`) to an async handler. The handler writes its effects
and the batch's offsets (`Batch.claims`) in one PostgreSQL transaction; PostgreSQL is the
authority on positions: on assignment the loop seeks to the offsets stored there. After
each handled batch the same offsets are committed to Kafka, tagged as the loop's own, so
lag shows in Kafka's own tooling and an operator's reset made with that tooling is told
apart from them and followed (`consumers.positions`).

While a partition lags (a fetch fills the batch), the batch doubles up to
`max_batch_size`, which spreads each transaction's fixed cost over more events; once
fetches come back half empty it shrinks back to `batch_size`, the size that keeps latency
low when caught up.

Handler outcomes: returns → positions move on; raises `Fenced` → positions are re-read
from the store; raises an error with `retriable = True` → the batch is read again after
a backoff (the store is down); anything else stops the loop.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from consumers.errors import ConsumerError, Fenced
from consumers.positions import Marks, Reapply, Restart, own_metadata, plan
from tds.kafka import MessageLike, consumer_config
from tds.kafka_group import GroupMember
from tds.metrics import Metrics

logger = logging.getLogger(__name__)

TP = tuple[str, int]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Claim:
    """A batch's move of one partition: from `start` (None: nothing stored) to `end`."""

    topic: str
    partition: int
    start: int | None
    end: int


@dataclass(frozen=True, slots=True)
class Batch:
    """Messages in log order per partition, and the offset moves they account for;
    `prepared` holds what `BatchingConsumer(prepare=...)` made of each message;
    `replays` are the ranges re-read after an operator's reset (applied before, so
    claimed by no one: the stored position moves only past them)."""

    messages: tuple[MessageLike, ...]
    claims: tuple[Claim, ...]
    prepared: tuple[Any, ...] | None = None
    replays: tuple[Claim, ...] = ()

    def replayed(self, topic: str, partition: int, offset: int) -> bool:
        """Whether the message at this position is re-applied after a reset."""
        return any(r.topic == topic and r.partition == partition and r.start is not None
                   and r.start <= offset < r.end for r in self.replays)


class OffsetStore(Protocol):
    """Where the authoritative offsets live (PostgreSQL: consumers.offsets)."""

    async def load(self, partitions: Sequence[TP]) -> dict[TP, int]: ...

    async def restart(self, topic: str, partition: int, *, stored: int, offset: int,
                      reason: str) -> None: ...


Handler = Callable[[Batch], Awaitable[None]]
Prepare = Callable[[Sequence[MessageLike]], Sequence[Any]]
Fetched = tuple[int, list[Any], Sequence[Any] | None]


# A thread that holds the GIL keeps the event loop from reading PostgreSQL's replies for
# up to the switch interval (5 ms by default) each time; a batch makes dozens of round
# trips, so while CPU work runs in a thread the loop asks for the GIL back sooner.
_SWITCH_INTERVAL_S = 0.0005


@contextmanager
def responsive_loop() -> Iterator[None]:
    """Shorten the interpreter's thread switch interval for the duration (restored)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, _SWITCH_INTERVAL_S))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _position(message: MessageLike) -> tuple[str, int, int]:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ConsumerError("a delivered message has no topic, partition or offset")
    return topic, partition, offset


class BatchingConsumer:
    """Run `handler` over batches of `topics` as a member of `group`."""

    def __init__(
        self,
        *,
        bootstrap: str,
        group: str,
        topics: Sequence[str],
        store: OffsetStore,
        handler: Handler,
        batch_size: int = 100,
        max_batch_size: int | None = None,
        max_wait_s: float = 0.01,
        backoff_s: tuple[float, float] = (0.1, 10.0),
        config: Mapping[str, Any] | None = None,
        consumer_factory: Callable[[dict[str, Any]], Consumer] = Consumer,
        prepare: Prepare | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.group = group
        self._topics = list(topics)
        self._store = store
        self._handler = handler
        self._batch_size = batch_size
        self._max_batch_size = max(batch_size, max_batch_size or batch_size)
        self._fetch_size = batch_size  # what the next fetch asks for (grows while lagging)
        self._max_wait_s = max_wait_s
        self._backoff_s = backoff_s
        # "error": a fetch outside the log is reported to the loop (and handled as at
        # assignment), not quietly moved to the log start under positions beyond it.
        self._config = consumer_config(bootstrap, group, **{"auto.offset.reset": "error",
                                                            **dict(config or {})})
        self._factory = consumer_factory
        self._prepare = prepare
        self._metrics = metrics
        self._member: GroupMember | None = None
        self._consumer: Consumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._positions: dict[TP, int | None] = {}
        self._replay_until: dict[TP, int] = {}  # an operator's reset being re-applied
        self._stale_commits: list[TopicPartition] = []  # to commit once assigned
        self._out_of_range: set[TP] = set()  # fetches the broker refused as outside the log
        self.batches = 0
        self.messages = 0

    @property
    def assignment(self) -> list[TP]:
        """Partitions this member holds now."""
        return sorted(self._positions)

    # Rebalance callbacks run inside consume(), on the worker thread; the event loop is
    # free meanwhile, so the offsets are read from PostgreSQL through it.
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._loop is not None
        positioned = self._plan_starts(consumer, partitions)
        consumer.assign(positioned)
        self._commit_positions()
        logger.info("group %s assigned %s", self.group, ", ".join(
            f"{tp.topic}[{tp.partition}]@{'start' if tp.offset < 0 else tp.offset}"
            for tp in positioned))

    def _plan_starts(self, consumer: Consumer,
                     partitions: list[TopicPartition]) -> list[TopicPartition]:
        """Where each partition starts; blocking (the consumer's thread, not the loop's)."""
        wanted = [(tp.topic, tp.partition) for tp in partitions]
        stored = self._retrying("read stored offsets",
                                lambda: self._run_blocking(self._store.load(wanted)))
        marks = self._retrying("read committed offsets and log bounds",
                               lambda: self._marks(consumer, partitions, stored))
        positioned = []
        for tp in partitions:
            mark = marks[(tp.topic, tp.partition)]
            offset = self._start(tp.topic, tp.partition, mark)
            positioned.append(TopicPartition(
                tp.topic, tp.partition, OFFSET_BEGINNING if offset is None else offset))
            if (offset is not None and offset != mark.committed
                    and (tp.topic, tp.partition) not in self._replay_until):
                # Kafka's commit says other than where PostgreSQL has us (a crash between
                # the two commits, a restart from the log start): readers of the group's
                # lag, as the stream workers' downstream gate, would see a backlog that
                # lasts until the partition's next event. An operator's reset stays.
                self._stale_commits.append(TopicPartition(
                    tp.topic, tp.partition, offset, own_metadata(offset)))
        return positioned

    def _commit_positions(self) -> None:
        """Commit the positions `_plan_starts` found Kafka's commits to disagree with."""
        stale, self._stale_commits = self._stale_commits, []
        if stale:
            self._commit(stale)

    def _commit(self, offsets: list[TopicPartition]) -> None:
        assert self._member is not None
        # Informational only: PostgreSQL holds the truth, so a refusal is no failure.
        self._member.commit(offsets=offsets, asynchronous=True,
                            failed="Kafka commit skipped", level=logging.INFO)

    async def _restart_out_of_range(self, consumer: Consumer) -> None:
        """Plan again the partitions whose fetch fell outside the log (a topic recreated
        or truncated under a running member), as an assignment would, and restart them."""
        held = [TopicPartition(t, p) for t, p in sorted(self._out_of_range)
                if (t, p) in self._positions]
        self._out_of_range.clear()
        if not held:
            return
        await asyncio.to_thread(self._plan_starts, consumer, held)  # sets their positions
        # A partition stopped by such an error refuses seek (_STATE); assigning again
        # restarts it. The others restart at their positions too: what the batch in hand
        # holds is then fetched again and dropped as accounted for.
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING if offset is None else offset)
                         for (t, p), offset in sorted(self._positions.items())])
        self._commit_positions()

    @staticmethod
    def _marks(consumer: Consumer, partitions: list[TopicPartition],
               stored: Mapping[TP, int]) -> dict[TP, Marks]:
        committed = {(tp.topic, tp.partition): tp for tp in consumer.committed(
            [TopicPartition(tp.topic, tp.partition) for tp in partitions], timeout=10)}
        marks = {}
        for tp in partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=10, cached=False)
            mine = committed.get((tp.topic, tp.partition))
            marks[(tp.topic, tp.partition)] = Marks(
                stored=stored.get((tp.topic, tp.partition)),
                committed=None if mine is None or mine.offset < 0 else mine.offset,
                metadata=(mine.metadata or "") if mine is not None else "", low=low, high=high)
        return marks

    def _start(self, topic: str, partition: int, marks: Marks) -> int | None:
        """Where one assigned partition starts (see consumers.positions), said and counted."""
        start = plan(marks)
        where = f"group {self.group} {topic}[{partition}]"
        if isinstance(start, Restart):
            logger.error("%s: %s; restarting from the log start %d", where, start.reason,
                         start.offset)
            if self._metrics is not None:
                self._metrics.offsets_out_of_range.labels(self.group, topic).inc()
            self._retrying("record the restart", lambda: self._run_blocking(
                self._store.restart(topic, partition, stored=start.stored,
                                    offset=start.offset, reason=start.reason)))
        elif isinstance(start, Reapply):
            logger.warning("%s: offsets reset to %d by an operator (stored: %d); re-applying "
                           "from there", where, start.offset, start.until)
            if self._metrics is not None:
                self._metrics.offset_resets.labels(self.group, topic).inc()
            self._replay_until[(topic, partition)] = start.until
        elif start.ignored is not None:
            logger.warning("%s: a reset forward to %d is not followed (it would skip what "
                           "PostgreSQL has not applied); resuming at %s", where, start.ignored,
                           start.offset)
        self._positions[(topic, partition)] = start.offset
        return start.offset

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._positions.pop((tp.topic, tp.partition), None)
            self._replay_until.pop((tp.topic, tp.partition), None)
        consumer.unassign()
        logger.info("group %s revoked %s", self.group,
                    ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions))

    def _run_blocking(self, work: Coroutine[Any, Any, T]) -> T:
        """Run a store coroutine on the event loop from the consumer's thread."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=30)

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        delay = self._backoff_s[0]
        deadline = time.monotonic() + 60
        while True:
            try:
                return call()
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise ConsumerError(f"group {self.group}: cannot {what}: {exc!r}") from exc
                logger.warning("group %s: %s failed (%r); retrying", self.group, what, exc)
                time.sleep(delay)
                delay = min(delay * 2, self._backoff_s[1])

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then leave the group cleanly.

        With `prepare`, the next batch is fetched and prepared (in a thread) while the
        handler writes the current one, so CPU work on the next batch overlaps the
        store's work on this one. Only positions decide what a batch claims, and they
        move only after the handler returns; a batch read ahead of a failed one is
        dropped and its partitions are sought back, so nothing is skipped.
        """
        self._loop = asyncio.get_running_loop()
        member = GroupMember(self._config, self._topics, name=f"group {self.group}",
                             on_assign=self._on_assign, on_revoke=self._on_revoke,
                             on_error=self._consumer_error, factory=self._factory)
        self._member = member
        self._consumer = consumer = member.join()
        try:
            with responsive_loop() if self._prepare is not None else nullcontext():
                await self._loop_batches(consumer, stop)
        finally:
            await asyncio.to_thread(member.close)
            self._consumer = self._member = None

    def _consumer_error(self, message: Message) -> None:
        """A fetch's error (logged after this): fatal stops the loop; a fetch outside the
        log marks its partition for a restart (`_restart_out_of_range`)."""
        error = message.error()
        assert error is not None
        if error.fatal():
            raise ConsumerError(f"group {self.group}: fatal Kafka error: {error}")
        if error.code() == KafkaError._AUTO_OFFSET_RESET:
            self._out_of_range.add((message.topic() or "", message.partition() or 0))

    async def _loop_batches(self, consumer: Consumer, stop: asyncio.Event) -> None:
        """Fetch, handle and advance until `stop` (see `run`)."""
        delay = self._backoff_s[0]
        ahead: asyncio.Task[Fetched] | None = None
        try:
            while not stop.is_set():
                if ahead is not None:
                    asked, messages, prepared = await ahead
                    ahead = None
                else:
                    asked, messages, prepared = await self._fetch()
                self._resize(asked, len(messages))
                batch = self._batch(messages, prepared)
                if self._out_of_range:
                    await self._restart_out_of_range(consumer)
                if batch is None:
                    continue
                if self._prepare is not None:
                    ahead = asyncio.create_task(self._fetch())
                try:
                    await self._handler(batch)
                except Fenced as exc:
                    logger.warning("%s", exc)
                    await self._drop(ahead)
                    ahead = None
                    # Nothing of the batch committed: its partitions that were not fenced
                    # are read again too (else the next batch would claim past them).
                    self._rewind(batch)
                    await self._reposition(exc.partitions)
                    continue
                except Exception as exc:
                    if not getattr(exc, "retriable", False):
                        raise
                    logger.warning("group %s: batch failed (%s); reading it again in %.1fs",
                                   self.group, exc, delay)
                    await self._drop(ahead)
                    ahead = None
                    self._rewind(batch)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._backoff_s[1])
                    continue
                delay = self._backoff_s[0]
                self._advance(batch)
        finally:
            if ahead is not None:  # the client must not be closed under a running consume
                await asyncio.gather(ahead, return_exceptions=True)

    async def _fetch(self) -> Fetched:
        assert self._member is not None
        asked = self._fetch_size
        messages = await asyncio.to_thread(self._member.fetch, asked, self._max_wait_s)
        prepared = None
        if self._prepare is not None and messages:
            prepared = await asyncio.to_thread(self._prepare, messages)
        return asked, messages, prepared

    async def _drop(self, ahead: asyncio.Task[Fetched] | None) -> None:
        """Discard a batch read ahead: seek its partitions back to its first messages."""
        if ahead is None:
            return
        _, messages, _ = await ahead
        firsts: dict[TP, int] = {}
        for message in messages:
            topic, partition, offset = _position(message)
            firsts[(topic, partition)] = min(firsts.get((topic, partition), offset), offset)
        for (topic, partition), offset in firsts.items():
            if (topic, partition) in self._positions:
                self._seek(topic, partition, offset)

    def _resize(self, asked: int, got: int) -> None:
        """Double the next fetch after a full one (more is waiting), halve it after one
        less than half full, within [batch_size, max_batch_size]."""
        if got >= asked:
            self._fetch_size = min(asked * 2, self._max_batch_size)
        elif got * 2 < asked:
            self._fetch_size = max(asked // 2, self._batch_size)

    def _batch(self, messages: list[Any], prepared: Sequence[Any] | None = None
               ) -> Batch | None:
        kept: list[MessageLike] = []
        kept_prepared: list[Any] = []
        first: dict[TP, int] = {}
        last: dict[TP, int] = {}
        for index, message in enumerate(messages):
            topic, partition, offset = _position(message)
            tp = (topic, partition)
            if tp not in self._positions:
                continue  # revoked while this batch was fetched
            start = self._positions[tp]
            if start is not None and offset < start:
                continue  # already accounted for
            first.setdefault(tp, offset)
            last[tp] = offset
            kept.append(message)
            if prepared is not None:
                kept_prepared.append(prepared[index])
        if not kept:
            return None
        claims, replays = [], []
        for (t, p), end in sorted(last.items()):
            start, until = self._positions[(t, p)], self._replay_until.get((t, p))
            if until is not None:  # re-applied up to `until`; only the rest is claimed
                replays.append(Claim(t, p, start, min(end + 1, until)))
                if end + 1 > until:
                    claims.append(Claim(t, p, until, end + 1))
            else:
                claims.append(Claim(t, p, start, end + 1))
        return Batch(messages=tuple(kept), claims=tuple(claims),
                     prepared=None if prepared is None else tuple(kept_prepared),
                     replays=tuple(replays))

    def _advance(self, batch: Batch) -> None:
        assert self._consumer is not None
        ends = {(c.topic, c.partition): c.end for c in batch.claims}
        for claim in (*batch.replays, *batch.claims):
            tp = (claim.topic, claim.partition)
            if tp in self._positions:
                self._positions[tp] = claim.end
                if claim.end >= self._replay_until.get(tp, claim.end + 1):
                    del self._replay_until[tp]
                    ends.setdefault(tp, claim.end)  # re-applied to the stored position
        self.batches += 1
        self.messages += len(batch.messages)
        # While a reset is re-applied the operator's commit stays, so a restart re-applies
        # it again rather than forgetting it; done, the loop's own commit replaces it.
        offsets = [TopicPartition(t, p, end, own_metadata(end)) for (t, p), end in ends.items()]
        if offsets:
            self._commit(offsets)

    def _rewind(self, batch: Batch) -> None:
        assert self._consumer is not None
        firsts: dict[TP, int] = {}
        for message in batch.messages:
            topic, partition, offset = _position(message)
            firsts.setdefault((topic, partition), offset)
        for (topic, partition), offset in firsts.items():
            if (topic, partition) in self._positions:
                self._seek(topic, partition, offset)

    async def _reposition(self, partitions: Sequence[TP]) -> None:
        held = [tp for tp in partitions if tp in self._positions]
        stored = await self._store.load(held)
        for topic, partition in held:
            offset = stored.get((topic, partition))
            self._positions[(topic, partition)] = offset
            self._replay_until.pop((topic, partition), None)
            self._seek(topic, partition, OFFSET_BEGINNING if offset is None else offset)

    def _seek(self, topic: str, partition: int, offset: int) -> None:
        assert self._consumer is not None
        try:
            self._consumer.seek(TopicPartition(topic, partition, offset))
        except KafkaException as exc:
            # The partition is being revoked; the next assignment re-reads the store.
            logger.info("group %s: seek %s[%d] failed: %s", self.group, topic, partition, exc)
