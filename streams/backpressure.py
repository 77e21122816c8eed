"""Keep a bulk backlog in the raw topic, where realtime events can pass it.

The worker serves realtime events first, but everything it emits shares one topic,
`tds.entity.synced`, whose readers (the projector) take it in order. When bulk events are
emitted faster than the projector writes them, the backlog moves into that topic and a
webhook's event waits behind it there: measured 8.8 s median webhook → row during a
100,000-event backfill. So the worker watches the projector's lag on the synced topic and
pauses its bulk partitions while the lag is above `max_lag` (resuming below 3/4 of it);
realtime events keep flowing, and the backlog waits in `zoho.raw.bulk`, in front of the
stage that can put realtime events first. Bulk throughput is unchanged: it was bound by the
projector anyway.

The gate only throttles while the downstream group has live members: with no projector
running, holding bulk events back would help nobody. Requests to the broker are issued and
their futures looked at on later steps, so the worker's loop never blocks on them. None of
them goes to the group's coordinator through the admin client (`tds.kafka` says why).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from tds.kafka import (
    LIVE_GROUP_STATES,
    GroupOffsets,
    admin_config,
    group_state_name,
    partition_lags,
)

logger = logging.getLogger(__name__)
CLIENT_ID = "tds-streams-gate"


class Broker(Protocol):
    """The three questions the gate asks, each answered by a future."""

    def list_offsets(self, request: dict[TopicPartition, Any], request_timeout: float
                     ) -> dict[TopicPartition, Future[Any]]:
        """Log-end offsets (AdminClient.list_offsets)."""
        ...

    def list_consumer_groups(self, request_timeout: float) -> Future[Any]:
        """Every group and its state (AdminClient.list_consumer_groups)."""
        ...

    def committed(self, group: str, partitions: list[TopicPartition], timeout_s: float
                  ) -> Future[list[TopicPartition]]:
        """`group`'s committed offsets."""
        ...


class DownstreamGate:
    """Says whether bulk input should be paused, from the downstream group's lag."""

    def __init__(self, broker: Broker, *, group: str, topic: str, partitions: int, max_lag: int,
                 check_s: float = 0.25, timeout_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._broker = broker
        self._group, self._topic, self._max_lag = group, topic, max_lag
        self._partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self._check_s, self._timeout_s, self._clock = check_s, timeout_s, clock
        self._asked_at = -float("inf")
        self._pending: tuple[dict[Any, Future[Any]], Future[Any], Future[Any]] | None = None
        self.closed = False  # True: bulk input should be paused
        self.lag: int | None = None

    @classmethod
    def create(cls, bootstrap: str, **kwargs: Any) -> DownstreamGate:
        """A gate with its own clients on `bootstrap`."""
        return cls(KafkaBroker(bootstrap), **kwargs)

    def update(self) -> bool:
        """Look at finished answers, ask again when due; returns `closed`. Never blocks."""
        if self._max_lag <= 0:
            return False
        now = self._clock()
        if self._pending is not None:
            ends, offsets, listed = self._pending
            futures = [*ends.values(), offsets, listed]
            if all(f.done() for f in futures):
                self._pending = None
                self._decide(ends, offsets, listed)
            elif now - self._asked_at > self._timeout_s:
                self._pending = None  # unanswered: ask again, keep the last decision
        if self._pending is None and now - self._asked_at >= self._check_s:
            self._asked_at = now
            self._ask()
        return self.closed

    def _ask(self) -> None:
        try:
            broker, timeout = self._broker, self._timeout_s
            ends = broker.list_offsets({tp: OffsetSpec.latest() for tp in self._partitions},
                                       request_timeout=timeout)
            offsets = broker.committed(self._group, self._partitions, timeout)
            listed = broker.list_consumer_groups(request_timeout=timeout)
        except KafkaException as exc:
            logger.debug("downstream lag: cannot ask: %s", exc)
            return
        self._pending = (ends, offsets, listed)

    def _decide(self, ends: dict[Any, Future[Any]], offsets: Future[list[TopicPartition]],
                listed: Future[Any]) -> None:
        try:
            end = {(tp.topic, tp.partition): f.result().offset for tp, f in ends.items()}
            lags = partition_lags(self._group, offsets.result(), end)
            live = any(g.group_id == self._group
                       and group_state_name(g.state) in LIVE_GROUP_STATES
                       for g in listed.result().valid)
        except KafkaException as exc:
            logger.debug("downstream lag: no answer: %s", exc)
            return
        # A partition the group never committed is not counted: no evidence of a backlog.
        lag = sum(p.lag for p in lags if p.has_commit)
        self.lag = lag
        was = self.closed
        if not live:
            self.closed = False
        elif lag > self._max_lag:
            self.closed = True
        elif lag < self._max_lag * 3 // 4:
            self.closed = False
        if self.closed != was:
            logger.debug("downstream %s lag %d: bulk input %s", self._group, lag,
                         "paused" if self.closed else "resumed")


class KafkaBroker:
    """The gate's questions to a real broker: ends and group states through an admin
    client, committed offsets through a consumer handle on a thread of its own."""

    def __init__(self, bootstrap: str) -> None:
        self._admin: Any = AdminClient(admin_config(bootstrap, **{"client.id": CLIENT_ID}))
        self._offsets = GroupOffsets(bootstrap, client_id=CLIENT_ID)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=CLIENT_ID)

    def list_offsets(self, request: dict[TopicPartition, Any], request_timeout: float
                     ) -> dict[TopicPartition, Future[Any]]:
        answer: dict[TopicPartition, Future[Any]] = self._admin.list_offsets(
            request, request_timeout=request_timeout)
        return answer

    def list_consumer_groups(self, request_timeout: float) -> Future[Any]:
        answer: Future[Any] = self._admin.list_consumer_groups(request_timeout=request_timeout)
        return answer

    def committed(self, group: str, partitions: list[TopicPartition], timeout_s: float
                  ) -> Future[list[TopicPartition]]:
        return self._thread.submit(self._offsets.committed, group, partitions, timeout_s)
