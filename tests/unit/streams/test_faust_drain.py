"""faust's per-record delivery: awaited in place when it cannot suspend (no task per
record), faust's own `wait_first` whenever it could (a rebalance must be able to give up
a delivery stuck behind a full stream queue)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.consumer import Consumer

from streams.faust_drain import delivery_cannot_wait, install


def _consumer(**change: Any) -> Any:
    queue = SimpleNamespace(full=lambda: change.get("full", False))
    lock = asyncio.Lock()
    app = SimpleNamespace(
        rebalancing=change.get("rebalancing", False), in_recovery=False,
        topics=SimpleNamespace(_topics=[SimpleNamespace(queue=queue)],
                               _tp_to_callback_lock=lock),
        flow_control=SimpleNamespace(is_active=lambda: change.get("flow", True)),
        conf=SimpleNamespace(producer_threaded=False),
        producer=SimpleNamespace(buffer=SimpleNamespace(pending=asyncio.Queue(),
                                                        max_messages=1)))
    return SimpleNamespace(app=app, suspend_flow=asyncio.Event(), _stopped=asyncio.Event(),
                           _crashed=asyncio.Event(), loop=asyncio.get_event_loop(),
                           lock=lock)


async def test_only_a_delivery_that_cannot_suspend_is_awaited_in_place() -> None:
    assert delivery_cannot_wait(_consumer())
    assert not delivery_cannot_wait(_consumer(full=True))
    assert not delivery_cannot_wait(_consumer(flow=False))
    assert not delivery_cannot_wait(_consumer(rebalancing=True))
    suspended = _consumer()
    suspended.suspend_flow.set()
    assert not delivery_cannot_wait(suspended)
    locked = _consumer()
    await locked.lock.acquire()
    assert not delivery_cannot_wait(locked)
    busy = _consumer()
    for n in range(2):
        busy.app.producer.buffer.pending.put_nowait(n)
    assert not delivery_cannot_wait(busy)


@pytest.mark.parametrize(("full", "in_place"), [(False, True), (True, False)])
async def test_the_fetchers_wait_first(full: bool, in_place: bool) -> None:
    install()
    consumer = _consumer(full=full)
    tasks: list[asyncio.Task[Any] | None] = []

    async def deliver() -> str:
        tasks.append(asyncio.current_task())
        return "delivered"

    delivery = deliver()
    results = await Consumer.wait_first(consumer, delivery, consumer.suspend_flow.wait())
    assert results.done == [delivery] and results.results == ["delivered"]
    assert (tasks == [asyncio.current_task()]) is in_place
