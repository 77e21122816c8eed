"""faust's record delivery without four tasks per record.

faust's fetcher hands each fetched record to the conductor as
`consumer.wait_first(callback(message), consumer.suspend_flow.wait())`, so that a
rebalance can give up a delivery stuck behind a full stream queue. `wait_first` makes a
task of each of those, one for the consumer's stopped and crashed events each, and waits
for the first with `asyncio.wait`: ~10% of a faust worker's main thread draining a
backlog (py-spy), once per record. The callback suspends only when flow is held, the
conductor's lock is taken, faust's producer buffer is over its limit or a stream queue is
full; when none of that holds it runs to completion at once, so it is awaited in place,
and every other call keeps faust's way.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from faust.transport.consumer import Consumer
from mode.services import WaitResults


def _is_suspend_wait(consumer: Any, waitable: Any) -> bool:
    """Whether `waitable` is the fetcher's `consumer.suspend_flow.wait()` coroutine."""
    event = consumer.suspend_flow
    frame = getattr(waitable, "cr_frame", None)
    return (getattr(waitable, "cr_code", None) is type(event).wait.__code__
            and frame is not None and frame.f_locals.get("self") is event)


def delivery_cannot_wait(consumer: Any) -> bool:
    """Whether the conductor's callback would run to completion without suspending."""
    app = consumer.app
    conductor = app.topics
    if (consumer.suspend_flow.is_set() or consumer._stopped.is_set()
            or consumer._crashed.is_set() or not app.flow_control.is_active()
            or conductor._tp_to_callback_lock.locked()
            # A rebalance or table recovery moves flow and queues under the fetcher
            # (queues are cleared when flow resumes): faust's way, as it was tested.
            or app.rebalancing or app.in_recovery):
        return False
    threaded = consumer.__dict__.get("_tds_threaded")
    if threaded is None:  # faust's settings are slow to read: once
        threaded = consumer._tds_threaded = bool(app.conf.producer_threaded)
    buffer = app.producer.buffer
    if threaded or buffer.pending.qsize() > buffer.max_messages:  # its `size`, unthreaded
        return False
    return all(not channel.queue.full() for channel in conductor._topics)


def install() -> None:
    """Patch faust's consumer class (once per process)."""
    original = Consumer.wait_first
    if getattr(original, "tds_lean", False):
        return

    # `timeout` is faust's own parameter, passed on as it came.
    async def wait_first(self: Any, *coros: Any, timeout: Any = None) -> Any:  # noqa: ASYNC109
        if (len(coros) == 2 and timeout is None and _is_suspend_wait(self, coros[1])
                and delivery_cannot_wait(self)):
            delivery: Awaitable[Any] = coros[0]
            coros[1].close()  # never started: nothing to undo
            result = await delivery
            return WaitResults([delivery], [result], False)
        return await original(self, *coros, timeout=timeout)

    wait_first.tds_lean = True  # type: ignore[attr-defined]
    Consumer.wait_first = wait_first  # type: ignore[method-assign]

