"""What Kafka itself says about TDS: consumer lag per group/topic/partition and live members.

"Queue size" on the dashboard is this lag, and "workers" are these members: nothing here
is a counter TDS keeps for itself.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from tds.errors import TDSError
from tds.kafka import GroupOffsets, PartitionLag, client_config, group_state_name, partition_lags

logger = logging.getLogger(__name__)


class KafkaStateError(TDSError):
    """The broker could not be asked (down, or a timeout)."""

    retriable = True


@dataclass(frozen=True, slots=True)
class GroupState:
    """One consumer group: its state, live members and lag."""

    group: str
    state: str
    members: int
    partitions: tuple[PartitionLag, ...]
    # Live members by what runs them, told by their client ids (`engine_of`).
    engines: tuple[tuple[str, int], ...] = ()

    @property
    def lag(self) -> int:
        """Total lag over every partition."""
        return sum(p.lag for p in self.partitions)


def engine_of(client_id: str) -> str:
    """What runs a group member, from the client id each runtime sets: the faust
    engine's `<app-id>-faust`, the batched engine's `<app-id>-worker`."""
    if client_id.endswith("-faust"):
        return "faust"
    if client_id.endswith("-worker"):
        return "batched"
    return "other"


class KafkaInspector:
    """Ask the broker about groups and offsets; every call is bounded by `timeout_s`.

    The asking happens in a child process (`_Child`): describing a group goes to its
    coordinator, and librdkafka 2.16's admin client can crash the process that does so
    while the coordinator restarts (`tds.kafka` has the two crashes). There a crash costs
    one answer ("Kafka state unknown"), not the web process and its webhooks.
    """

    def __init__(self, *, bootstrap: str, timeout_s: float = 5.0) -> None:
        self._child = _Child(bootstrap, timeout_s)
        self._inflight: dict[tuple[tuple[str, tuple[str, ...]], ...],
                             asyncio.Future[list[GroupState]]] = {}

    async def groups(self, subscriptions: Mapping[str, Sequence[str]]) -> list[GroupState]:
        """State, members and lag of each group on the topics it reads (off the event loop).

        Single flight: callers asking while an inspection of the same groups runs share
        its answer, so a burst of requests costs the broker one round, not one each."""
        key = tuple(sorted((name, tuple(topics)) for name, topics in subscriptions.items()))
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(self.groups_sync, subscriptions))
            self._inflight[key] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(pending)

    async def reachable(self) -> bool:
        """Whether the cluster answers a describe-cluster request (not a full metadata
        request: that lists every topic, 7 ms at 750 topics)."""
        try:
            return bool(await asyncio.to_thread(self._child.call, "reachable"))
        except KafkaStateError:
            return False

    async def partitions(self, topics: Sequence[str]) -> dict[str, int]:
        """Partitions of each existing topic among `topics`."""
        answer: dict[str, int] = await asyncio.to_thread(self._child.call, "partitions",
                                                         sorted(set(topics)))
        return answer

    def groups_sync(self, subscriptions: Mapping[str, Sequence[str]]) -> list[GroupState]:
        """Blocking version of `groups`."""
        answer: list[GroupState] = self._child.call(
            "groups", {name: list(topics) for name, topics in subscriptions.items()})
        return answer

    def close(self) -> None:
        """Stop the child process."""
        self._child.close()


class _Child:
    """A `_Probe` in a child process (`python -m api.kafka_child`), asked over a socket
    pair one call at a time, and started again after it died."""

    def __init__(self, bootstrap: str, timeout_s: float) -> None:
        self._bootstrap, self._timeout_s = bootstrap, timeout_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None

    def call(self, what: str, *args: Any) -> Any:
        """The probe's answer to `what`; KafkaStateError when it has none."""
        with self._lock:
            try:
                conn = self._connection()
                conn.send((what, args))
                # Each probe request is bounded by the timeout; a few of them in a row.
                if not conn.poll(4 * self._timeout_s + 5):
                    raise TimeoutError("no answer from the Kafka inspection process")
                ok, value = conn.recv()
            except (EOFError, OSError, TimeoutError) as exc:
                code = self._process.poll() if self._process is not None else None
                self._stop()
                if code is not None:
                    logger.warning("the Kafka inspection process exited with %s", code)
                raise KafkaStateError(f"cannot read consumer groups from Kafka: {exc!r}"
                                      + (f" (inspection process exited with {code})"
                                         if code is not None else "")) from exc
        if not ok:
            raise KafkaStateError(value)
        return value

    def _connection(self) -> Connection:
        if self._conn is None or self._process is None or self._process.poll() is not None:
            self._stop()
            ours, theirs = socket.socketpair()
            with ours, theirs:
                # A fresh interpreter, not multiprocessing: spawn would re-import the
                # caller's main module, fork would copy librdkafka's threads' locks.
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "api.kafka_child", str(theirs.fileno()),
                     self._bootstrap, str(self._timeout_s)],
                    pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
                self._conn = Connection(ours.detach())
        return self._conn

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the child reads end-of-file and exits
        if self._process is not None:
            try:
                self._process.wait(2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process, self._conn = None, None

    def close(self) -> None:
        """Stop the child process."""
        with self._lock:
            self._stop()


def serve(conn: Connection, bootstrap: str, timeout_s: float) -> None:
    """The child process: answer calls until the parent closes its end."""
    probe = _Probe(bootstrap=bootstrap, timeout_s=timeout_s)
    while True:
        try:
            what, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            asks: dict[str, Callable[..., Any]] = {"groups": probe.groups,
                                                   "partitions": probe.partitions}
            ask = asks.get(what, probe.reachable)
            answer: tuple[bool, Any] = (True, ask(*args))
        except (KafkaException, TimeoutError) as exc:
            probe.reset()
            answer = (False, f"cannot read consumer groups from Kafka: {exc!r}")
        conn.send(answer)
        if probe.stale:
            probe.reset()


class _Probe:
    """The questions themselves, asked with an admin client and consumer handles."""

    def __init__(self, *, bootstrap: str, timeout_s: float) -> None:
        self._bootstrap, self._timeout_s = bootstrap, timeout_s
        self._config = client_config(bootstrap, **{"client.id": "tds-api",
                        "socket.timeout.ms": int(timeout_s * 1000)})
        self._admin: Any = AdminClient(self._config)
        self._offsets = GroupOffsets(bootstrap, client_id="tds-api")
        self._threads = ThreadPoolExecutor(4, thread_name_prefix="tds-api-offsets")
        self.stale = False  # the clients should be renewed before the next question

    def reset(self) -> None:
        """Fresh clients. After a broker restart librdkafka's admin client can leave
        requests to the group coordinator unanswered for good (measured: > 3 minutes while
        every consumer had long rejoined); a fresh client asks the restarted broker anew."""
        self.stale = False
        self._admin = AdminClient(self._config)
        self._offsets.close()
        self._offsets = GroupOffsets(self._bootstrap, client_id="tds-api")

    def reachable(self) -> bool:
        """Whether the cluster answers a describe-cluster request."""
        timeout = self._timeout_s
        return bool(self._admin.describe_cluster(request_timeout=timeout).result(
            timeout=timeout).nodes)

    def partitions(self, topics: list[str]) -> dict[str, int]:
        """Partitions per existing topic."""
        return _partition_counts(self._admin, topics, self._timeout_s)

    def groups(self, subscriptions: Mapping[str, Sequence[str]]) -> list[GroupState]:
        """State, members and lag of each group."""
        timeout = self._timeout_s
        names = list(subscriptions)
        # types-confluent-kafka lags the 2.x admin API (list_offsets, group descriptions).
        admin = self._admin
        # Only the subscribed topics' partitions: a full metadata request lists every
        # topic in the cluster (7 ms of the 10 ms this took at 750 topics).
        partition_counts = _partition_counts(
            admin, sorted({t for topics in subscriptions.values() for t in topics}), timeout)
        all_partitions = [TopicPartition(t, p) for t, count in partition_counts.items()
                          for p in range(count)]
        end_futures = admin.list_offsets(
            {tp: OffsetSpec.latest() for tp in all_partitions},
            request_timeout=timeout) if all_partitions else {}
        described = admin.describe_consumer_groups(names, request_timeout=timeout) \
            if names else {}
        # Committed offsets through consumer handles (`tds.kafka.GroupOffsets` says why not
        # the admin client), a thread per group, while the requests above fly.
        pending_offsets = {}
        for name in names:
            wanted = [tp for tp in all_partitions if tp.topic in set(subscriptions[name])]
            if wanted:
                pending_offsets[name] = self._threads.submit(self._offsets.committed, name,
                                                             wanted, timeout)
        committed_by_group = {name: future.result() for name, future in pending_offsets.items()}
        ends: dict[tuple[str, int], int] = {
            (tp.topic, tp.partition): future.result(timeout=timeout).offset
            for tp, future in end_futures.items()}
        states = []
        for name in names:
            wanted_topics = set(subscriptions[name])
            try:
                description = described[name].result(timeout=timeout)
                state, members = group_state_name(description.state).lower(), \
                    len(description.members)
                engines = tuple(sorted(Counter(
                    engine_of(m.client_id) for m in description.members).items()))
            except KafkaException:
                # Unknown for now (say, the coordinator is loading), and fresh clients for
                # the next inspection: the old one could stay unanswered for minutes after
                # a restart (health said "no worker" for 79 s while workers ran).
                state, members, engines = "unknown", 0, ()
                self.stale = True
            lags = partition_lags(name, committed_by_group.get(name, []),
                                  {k: end for k, end in ends.items() if k[0] in wanted_topics})
            states.append(GroupState(name, state, members, lags, engines))
        return states


def _partition_counts(admin: Any, topics: list[str], timeout: float) -> dict[str, int]:
    """Partitions per existing topic (one describe-topics request); absent ones are left out."""
    if not topics:
        return {}
    counts = {}
    futures = admin.describe_topics(TopicCollection(topics), request_timeout=timeout)
    for name, future in futures.items():
        try:
            counts[name] = len(future.result(timeout=timeout).partitions)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not isinstance(error, KafkaError) or \
                    error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
    return dict(sorted(counts.items()))
