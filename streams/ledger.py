"""The sync-run side of the worker: poller events in, per-run counts folded, run ends out.

- Pollers' `tds.sync.*` events are forwarded into the ledger topic (keyed by run id).
- Each batch of raw events adds one count message per (run, outcome) to the ledger.
- The owner of a ledger partition folds its messages into the `runs` state (see
  `streams.runs.apply`) and publishes `tds.sync.completed` / `tds.sync.failed`.
- A periodic check sends "tick" messages for idle runs, so a stalled run closes on the
  owner of its partition, in order with its other messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Protocol

import orjson

from schemas.cloudevents import ce_headers, header_map
from schemas.codec import Codec
from schemas.errors import CodecError
from schemas.events import SyncRunEvent, decode_event
from schemas.topics import entity_key
from streams.config import StreamsConfig
from streams.emit import Outbox
from streams.pipeline import micros
from streams.runs import COUNTED_BY, RunState, apply, count_message, poller_message, tick_message
from tds.kafka import MessageLike
from tds.metrics import Metrics

logger = logging.getLogger(__name__)

DONE_RUN_RETENTION_S = 86_400.0


class RunsPartition(Protocol):
    """The runs of one ledger partition: packed `RunState` bytes by run id."""

    def get(self, key: bytes) -> bytes | None: ...
    def __setitem__(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...


class RunsListing(Protocol):
    """What the idle-run check reads of one partition."""

    def items(self) -> Iterable[tuple[bytes, bytes]]: ...


class RunsState(Protocol):
    """The runs of the ledger partitions this worker owns (`streams.state.ChangelogState`
    in the batched engine, the faust `runs` table in the faust engine)."""

    def __contains__(self, partition: object) -> bool: ...
    def __getitem__(self, partition: int) -> RunsPartition: ...
    def items(self) -> Iterator[tuple[int, RunsListing]]: ...


class Ledger:
    """Folds ledger messages into the runs of the ledger partitions this worker owns."""

    def __init__(self, config: StreamsConfig, *, outbox: Outbox, runs: RunsState,
                 metrics: Metrics, codec: Codec, clock: Callable[[], datetime]) -> None:
        self._config = config
        self._outbox = outbox
        self.runs = runs
        self._metrics = metrics
        self._codec = codec
        self._clock = clock
        self._own_source = config.source.encode()

    def count(self, counts: dict[tuple[str, str], tuple[int, str, str]]) -> None:
        """Send one count message per (run, outcome): value (events, source, org)."""
        at_us = micros(self._clock())
        for (run_id, outcome), (n, source, org) in counts.items():
            self._outbox.send(self._config.ledger_topic, run_id.encode(),
                              count_message(run_id, outcome, source, org, at_us, n))

    def forward(self, message: MessageLike) -> None:
        """Forward a poller's sync-run event into the ledger (our own events excepted)."""
        if header_map(message.headers()).get("ce_source") == self._own_source:
            return
        try:
            run = decode_event(message.value() or b"", codec=self._codec,
                               topic=message.topic() or "", partition=message.partition() or 0,
                               offset=message.offset() or 0)
        except CodecError as exc:
            logger.warning("skipping unreadable sync-run event: %s", exc)
            return
        if not isinstance(run, SyncRunEvent) or (
                run.configuration.get("counted_by") == COUNTED_BY):
            return
        self._outbox.send(self._config.ledger_topic, run.run_id.encode(),
                          poller_message(run, micros(self._clock())))

    def fold(self, message: MessageLike) -> None:
        """Fold one ledger message into its run; publish its progress and its end."""
        key, value = message.key(), message.value()
        partition = message.partition() or 0
        if key is None or value is None or partition not in self.runs:
            return
        runs = self.runs[partition]
        stored = runs.get(key)
        previous = RunState.unpack(stored) if stored is not None else None
        data = orjson.loads(value)
        now = self._clock()
        if data.get("t") == "tick" and previous is not None and previous.done:
            if (micros(now) - previous.last_activity_us) / 1e6 >= DONE_RUN_RETENTION_S:
                runs.delete(key)
            return
        state, closing = apply(previous, data, now_us=micros(now),
                               idle_timeout_s=self._config.run_idle_timeout_s)
        if state != previous:
            runs[key] = state.pack()
        if closing is None:
            return
        headers = ce_headers(f"tds.sync.{closing.status}", self._config.source,
                             event_id=closing.event_id, time=closing.at)
        self._outbox.send(self._config.sync_runs_topic,
                          entity_key(closing.org_id, "sync_run", closing.run_id),
                          closing.encode(self._codec), headers)
        if closing.status == "started":
            return  # progress of a running run, not its end
        self._metrics.sync_runs.labels(closing.run_type, closing.status).inc()
        if closing.started_at is not None:
            self._metrics.sync_run_duration.labels(closing.run_type).observe(
                (closing.at - closing.started_at).total_seconds())
        logger.info("sync run %s %s: seen %d, changed %d, unchanged %d, failed %d, "
                    "deleted %d", closing.run_id, closing.status, closing.seen,
                    closing.changed, closing.unchanged, closing.failed, closing.deleted)

    def check_deadlines(self) -> None:
        """Send a tick for every run idle past its limit (it is folded in order)."""
        now_us = micros(self._clock())
        for partition, runs in self.runs.items():
            for key, value in list(runs.items()):
                state = RunState.unpack(value)
                idle_s = (now_us - state.last_activity_us) / 1e6
                limit = (DONE_RUN_RETENTION_S if state.done
                         else self._config.run_idle_timeout_s)
                if idle_s >= limit:
                    self._outbox.send(self._config.ledger_topic, key,
                                      tick_message(state.run_id, now_us), None, partition)
