"""The downstream gate: pauses bulk input above the projector's lag limit, resumes below
3/4 of it, ignores a group with no members, and never blocks on the broker."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import ConsumerGroupState, TopicPartition

from streams.backpressure import DownstreamGate


def _done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


@dataclass
class Listing:
    group_id: str
    state: ConsumerGroupState


@dataclass
class Listed:
    valid: list[Listing]


@dataclass
class Admin:
    """Answers with the ends, commits and group states the test sets; counts the
    questions."""

    ends: dict[int, int] = field(default_factory=dict)
    commits: dict[int, int] = field(default_factory=dict)
    state: ConsumerGroupState = ConsumerGroupState.STABLE
    answer: bool = True
    asked: int = 0
    held: list[Future[Any]] = field(default_factory=list)

    def _reply(self, value: Any) -> Future[Any]:
        if self.answer:
            return _done(value)
        future: Future[Any] = Future()
        self.held.append(future)
        return future

    def list_offsets(self, request: dict[TopicPartition, Any], request_timeout: float
                     ) -> dict[TopicPartition, Future[Any]]:
        self.asked += 1
        return {tp: self._reply(TopicPartition(tp.topic, tp.partition,
                                               self.ends.get(tp.partition, 0)))
                for tp in request}

    def committed(self, group: str, partitions: list[TopicPartition], timeout_s: float
                  ) -> Future[list[TopicPartition]]:
        return self._reply([TopicPartition("synced", p, o) for p, o in self.commits.items()])

    def list_consumer_groups(self, request_timeout: float) -> Future[Any]:
        return self._reply(Listed([Listing("someone-else", ConsumerGroupState.STABLE),
                                   Listing("tds-projector", self.state)]))


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _gate(admin: Admin, clock: Clock) -> DownstreamGate:
    return DownstreamGate(admin, group="tds-projector", topic="synced", partitions=2,
                          max_lag=1000, check_s=0.25, timeout_s=5.0, clock=clock)


def test_pauses_above_the_limit_and_resumes_below_half() -> None:
    admin, clock = Admin(ends={0: 900, 1: 900}, commits={0: 0, 1: 0}), Clock()
    gate = _gate(admin, clock)
    assert gate.update() is False  # asks; the answers are read on the next update
    clock.now = 0.3
    assert gate.update() is True and gate.lag == 1800
    admin.commits = {0: 400, 1: 400}  # lag 1000: not above the limit, not below half
    clock.now = 0.6
    gate.update()
    clock.now = 0.9
    assert gate.update() is True and gate.lag == 1000
    admin.commits = {0: 500, 1: 401}  # lag 899 < 1000 but ≥ 750: stays paused
    clock.now = 1.2
    gate.update()
    clock.now = 1.5
    assert gate.update() is True
    admin.commits = {0: 800, 1: 800}  # lag 200: resume
    clock.now = 1.8
    gate.update()
    clock.now = 2.1
    assert gate.update() is False and gate.lag == 200


def test_no_members_or_no_commits_never_pause() -> None:
    admin, clock = Admin(ends={0: 10_000, 1: 10_000}, commits={0: 0, 1: 0},
                          state=ConsumerGroupState.EMPTY), Clock()
    gate = _gate(admin, clock)
    gate.update()
    clock.now = 0.3
    assert gate.update() is False  # nobody projects: holding bulk back helps nobody
    admin.state, admin.commits = ConsumerGroupState.STABLE, {}
    clock.now = 0.6
    gate.update()
    clock.now = 0.9
    assert gate.update() is False and gate.lag == 0  # never committed: no evidence


def test_unanswered_requests_do_not_block_and_are_asked_again() -> None:
    admin, clock = Admin(ends={0: 5000}, commits={0: 0}, answer=False), Clock()
    gate = _gate(admin, clock)
    gate.update()
    for tick in range(1, 20):  # 4.75 s of steps: one question in flight, no new ones
        clock.now = tick * 0.25
        assert gate.update() is False
    assert admin.asked == 1
    clock.now = 5.5  # past the timeout: asked again
    gate.update()
    assert admin.asked == 2


def test_zero_limit_disables_the_gate() -> None:
    admin = Admin(ends={0: 10**6}, commits={0: 0})
    gate = DownstreamGate(admin, group="g", topic="synced", partitions=1, max_lag=0)
    assert gate.update() is False and admin.asked == 0


def test_a_group_that_is_not_listed_or_dead_has_no_members() -> None:
    for state in (ConsumerGroupState.DEAD, ConsumerGroupState.UNKNOWN):
        admin, clock = Admin(ends={0: 10_000}, commits={0: 0}, state=state), Clock()
        gate = _gate(admin, clock)
        gate.update()
        clock.now = 0.3
        assert gate.update() is False and gate.lag == 10_000
    admin, clock = Admin(ends={0: 10_000}, commits={0: 0}), Clock()
    gate = DownstreamGate(admin, group="not-listed", topic="synced", partitions=1,
                          max_lag=1000, clock=clock)
    gate.update()
    clock.now = 0.3
    assert gate.update() is False and gate.lag == 10_000
