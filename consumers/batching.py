"""The batching consumer loop shared by the projector and the image cache.

A confluent-kafka consumer group member that hands batches (up to `batch_size` messages,
or what arrived within `max_wait_s`) to an async handler. The handler writes its effects
and the batch's offsets (`Batch.claims`) in one PostgreSQL transaction; PostgreSQL is the
authority on positions: on assignment the loop seeks to the offsets stored there. After
each handled batch the same offsets are committed to Kafka, only so lag shows in Kafka's
own tooling.

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
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from consumers.errors import ConsumerError, Fenced
from tds.kafka import MessageLike, consumer_config

logger = logging.getLogger(__name__)

TP = tuple[str, int]


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
    `prepared` holds what `BatchingConsumer(prepare=...)` made of each message."""

    messages: tuple[MessageLike, ...]
    claims: tuple[Claim, ...]
    prepared: tuple[Any, ...] | None = None


class OffsetStore(Protocol):
    """Where the authoritative offsets live (PostgreSQL: consumers.offsets)."""

    async def load(self, partitions: Sequence[TP]) -> dict[TP, int]: ...


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
        self._config = consumer_config(bootstrap, group, **dict(config or {}))
        self._factory = consumer_factory
        self._prepare = prepare
        self._consumer: Consumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._positions: dict[TP, int | None] = {}
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
        wanted = [(tp.topic, tp.partition) for tp in partitions]
        stored = self._load_blocking(wanted)
        positioned = []
        for tp in partitions:
            offset = stored.get((tp.topic, tp.partition))
            self._positions[(tp.topic, tp.partition)] = offset
            positioned.append(TopicPartition(
                tp.topic, tp.partition, OFFSET_BEGINNING if offset is None else offset))
        consumer.assign(positioned)
        logger.info("group %s assigned %s", self.group,
                    ", ".join(f"{t}[{p}]@{stored.get((t, p), 'start')}" for t, p in wanted))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._positions.pop((tp.topic, tp.partition), None)
        consumer.unassign()
        logger.info("group %s revoked %s", self.group,
                    ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions))

    def _load_blocking(self, partitions: list[TP]) -> dict[TP, int]:
        assert self._loop is not None
        delay = self._backoff_s[0]
        deadline = time.monotonic() + 60
        while True:
            future = asyncio.run_coroutine_threadsafe(self._store.load(partitions), self._loop)
            try:
                return future.result(timeout=30)
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise ConsumerError(
                        f"group {self.group}: cannot read stored offsets: {exc!r}") from exc
                logger.warning("group %s: reading offsets failed (%r); retrying", self.group, exc)
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
        consumer = self._factory(self._config)
        self._consumer = consumer
        consumer.subscribe(self._topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_revoke)
        try:
            with responsive_loop() if self._prepare is not None else nullcontext():
                await self._loop_batches(consumer, stop)
        finally:
            await asyncio.to_thread(consumer.close)
            self._consumer = None

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
                    asked, messages, prepared = await self._fetch(consumer)
                self._resize(asked, len(messages))
                batch = self._batch(messages, prepared)
                if batch is None:
                    continue
                if self._prepare is not None:
                    ahead = asyncio.create_task(self._fetch(consumer))
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

    async def _fetch(self, consumer: Consumer) -> Fetched:
        asked = self._fetch_size
        messages = await asyncio.to_thread(consumer.consume, asked, self._max_wait_s)
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
            if message.error() is None:
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
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise ConsumerError(f"group {self.group}: fatal Kafka error: {error}")
                logger.warning("group %s: consumer error: %s", self.group, error)
                continue
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
        claims = tuple(Claim(t, p, self._positions[(t, p)], end + 1)
                       for (t, p), end in sorted(last.items()))
        return Batch(messages=tuple(kept), claims=claims,
                     prepared=None if prepared is None else tuple(kept_prepared))

    def _advance(self, batch: Batch) -> None:
        assert self._consumer is not None
        for claim in batch.claims:
            if (claim.topic, claim.partition) in self._positions:
                self._positions[(claim.topic, claim.partition)] = claim.end
        self.batches += 1
        self.messages += len(batch.messages)
        offsets = [TopicPartition(c.topic, c.partition, c.end) for c in batch.claims]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:  # informational only: PostgreSQL holds the truth
            logger.info("group %s: Kafka commit skipped: %s", self.group, exc)

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
            self._seek(topic, partition, OFFSET_BEGINNING if offset is None else offset)

    def _seek(self, topic: str, partition: int, offset: int) -> None:
        assert self._consumer is not None
        try:
            self._consumer.seek(TopicPartition(topic, partition, offset))
        except KafkaException as exc:
            # The partition is being revoked; the next assignment re-reads the store.
            logger.info("group %s: seek %s[%d] failed: %s", self.group, topic, partition, exc)
