"""The batching loop: a batch that fails (store down, or fenced on some of its partitions)
is read again, so every message is handled once, in order, with contiguous claims (fake
Kafka client)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from consumers.batching import Batch, BatchingConsumer, Claim
from consumers.errors import Fenced, StoreUnavailable
from tests.support.waits import until
from tests.unit.projections.test_consumers import NoStore, Stub

TOPIC = "t"
PER_PARTITION = 5


class FakeConsumer:
    """A one-topic, two-partition log served from positions the loop assigns and seeks."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.positions: dict[int, int] = {}
        self.commits: list[TopicPartition] = []
        self._on_assign: Callable[..., None] | None = None
        self.closed = False

    def subscribe(self, topics: list[str], *, on_assign: Callable[..., None],
                  **_: Any) -> None:
        self._on_assign = on_assign

    def assign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.positions[tp.partition] = max(tp.offset, 0)  # OFFSET_BEGINNING is < 0

    def seek(self, tp: TopicPartition) -> None:
        self.positions[tp.partition] = 0 if tp.offset == OFFSET_BEGINNING else tp.offset

    def consume(self, count: int, timeout: float) -> list[Stub]:
        if self._on_assign is not None:
            assign, self._on_assign = self._on_assign, None
            assign(self, [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])
        out: list[Stub] = []
        for partition in sorted(self.positions):  # partition 0 first: batches split by it
            while len(out) < count and self.positions[partition] < PER_PARTITION:
                out.append(Stub(TOPIC, partition, self.positions[partition]))
                self.positions[partition] += 1
        return out

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.commits += offsets

    def committed(self, partitions: list[TopicPartition],
                  timeout: float) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, -1001) for tp in partitions]

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float,
                              cached: bool) -> tuple[int, int]:
        return 0, PER_PARTITION

    def close(self) -> None:
        self.closed = True


class Recorder:
    """A handler that fails as told, then records what it handled until all is done."""

    def __init__(self, stop: asyncio.Event, failures: list[BaseException]) -> None:
        self.stop, self.failures = stop, failures
        self.handled: list[tuple[int, int]] = []
        self.claims: list[Claim] = []
        self.read_ahead: Callable[[], bool] | None = None  # set: fail only once it happened

    async def __call__(self, batch: Batch) -> None:
        if self.read_ahead is not None and self.failures:
            await until(self.read_ahead, 5, what="the next batch was read ahead")
        if batch.prepared is not None:
            assert list(batch.prepared) == _offsets(batch.messages)
        if self.failures:
            raise self.failures.pop(0)
        self.handled += [(m.partition() or 0, m.offset() or 0) for m in batch.messages]
        self.claims += batch.claims
        if len(self.handled) >= 2 * PER_PARTITION:
            self.stop.set()


async def _run(failures: list[BaseException], batch_size: int, *,
               prepare: bool = False) -> tuple[Recorder, FakeConsumer]:
    stop = asyncio.Event()
    recorder = Recorder(stop, failures)
    made: list[FakeConsumer] = []
    if prepare:  # partition 1 is the batch after partition 0's
        recorder.read_ahead = lambda: bool(made) and made[0].positions.get(1) == PER_PARTITION

    def factory(config: dict[str, Any]) -> Any:
        made.append(FakeConsumer(config))
        return made[-1]

    loop = BatchingConsumer(bootstrap="127.0.0.1:1", group="g", topics=[TOPIC],
                            store=NoStore(), handler=recorder, batch_size=batch_size,
                            backoff_s=(0.01, 0.01), consumer_factory=factory,
                            prepare=_offsets if prepare else None)
    await asyncio.wait_for(loop.run(stop), 10)
    return recorder, made[0]


def _offsets(messages: Sequence[Any]) -> list[tuple[int, int]]:
    return [(m.partition() or 0, m.offset() or 0) for m in messages]


def _contiguous(claims: list[Claim]) -> bool:
    ends: dict[int, int | None] = {0: None, 1: None}
    for claim in claims:
        if claim.start != ends[claim.partition]:
            return False
        ends[claim.partition] = claim.end
    return ends == {0: PER_PARTITION, 1: PER_PARTITION}


async def test_a_batch_that_failed_is_read_again() -> None:
    recorder, consumer = await _run([StoreUnavailable("down")], batch_size=PER_PARTITION)
    assert sorted(recorder.handled) == [(p, o) for p in (0, 1) for o in range(PER_PARTITION)]
    assert len(set(recorder.handled)) == len(recorder.handled)
    assert _contiguous(recorder.claims)
    assert consumer.closed and consumer.commits


async def test_a_fenced_batch_rereads_the_partitions_that_were_not_fenced() -> None:
    # One batch holds both partitions; only partition 0 is fenced.
    recorder, _ = await _run([Fenced("g", [(TOPIC, 0)])], batch_size=2 * PER_PARTITION)
    assert sorted(recorder.handled) == [(p, o) for p in (0, 1) for o in range(PER_PARTITION)]
    assert _contiguous(recorder.claims)


@pytest.mark.parametrize("failure", [StoreUnavailable("down"), Fenced("g", [(TOPIC, 0)])])
async def test_a_batch_read_ahead_of_a_failed_one_is_read_again(failure: Exception) -> None:
    # Batch one is partition 0; partition 1 is read ahead (and prepared) while batch one
    # is handled, then dropped when it fails: it must be read again, not skipped.
    recorder, _ = await _run([failure], batch_size=PER_PARTITION, prepare=True)
    assert sorted(recorder.handled) == [(p, o) for p in (0, 1) for o in range(PER_PARTITION)]
    assert len(set(recorder.handled)) == len(recorder.handled)
    assert _contiguous(recorder.claims)


def test_batches_grow_while_lagging_and_shrink_when_caught_up() -> None:
    loop = BatchingConsumer(bootstrap="127.0.0.1:1", group="g", topics=[TOPIC],
                            store=NoStore(), handler=Recorder(asyncio.Event(), []),
                            batch_size=100, max_batch_size=500)
    sizes = []
    for got in (100, 200, 400, 500, 500, 300, 200, 40, 10):  # full fetches, then a lull
        asked = loop._fetch_size
        loop._resize(asked, min(got, asked))
        sizes.append(loop._fetch_size)
    assert sizes == [200, 400, 500, 500, 500, 500, 250, 125, 100]
