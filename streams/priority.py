"""Realtime first: every fetch returns buffered realtime records before any other.

faust's one aiokafka consumer serves partitions in the order their fetched batches
arrived, up to `max_poll_records` per call. A bulk backlog fetches big batches (1 MB of
lz4 each is ~10,000 raw events) that stay ahead of a webhook's batch until drained: we
measured 15-20 s of delay behind a 30,000-event backlog. This consumer asks aiokafka
for the priority topics' buffered records first (without waiting) and returns them
alone when there are any, so a realtime event waits at most for the batch being
delivered (`max_poll_records` bulk events), whatever the backlog.

It reaches into faust's aiokafka driver (`AIOKafkaConsumerThread._fetch_records`),
pinned in constraints.txt; `tests/integration/streams` proves the behaviour.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver

_FAUST_LOGGER = logging.getLogger(driver.__name__)  # keep faust's chatter under faust's name


class _PriorityThread(driver.AIOKafkaConsumerThread):
    logger = _FAUST_LOGGER
    priority_topics: frozenset[str] = frozenset()

    async def _fetch_records(self, consumer: Any, active_partitions: Any,
                             timeout: float | None = None,  # noqa: ASYNC109  # faust's signature
                             max_records: int | None = None) -> Any:
        urgent = {tp for tp in active_partitions or () if tp.topic in self.priority_topics}
        if urgent and self.consumer.flow_active:
            fetcher = consumer._fetcher
            with fetcher._subscriptions.fetch_context():
                records = await fetcher.fetched_records(urgent, timeout=0,
                                                        max_records=max_records)
            if records:
                return records
        return await super()._fetch_records(consumer, active_partitions, timeout=timeout,
                                            max_records=max_records)


def prioritise(app: faust.App, topics: Iterable[str]) -> None:
    """Make `app`'s consumer serve `topics` first (call before the worker starts)."""
    wanted = frozenset(topics)

    class Thread(_PriorityThread):
        priority_topics = wanted

    class Consumer(driver.Consumer):
        logger = _FAUST_LOGGER

        def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
            return Thread(self, loop=self.loop, beacon=self.beacon)

    # The transport's Consumer is a class attribute; this app's transport gets its own.
    setattr(app.transport, "Consumer", Consumer)  # noqa: B010
