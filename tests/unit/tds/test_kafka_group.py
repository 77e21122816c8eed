"""The group membership every group-consuming stage shares: join, fetch, commit, close."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from tds.kafka_group import GroupMember


class Msg:
    def __init__(self, at: int, error: KafkaError | None = None) -> None:
        self.at, self._error = at, error

    def error(self) -> KafkaError | None:
        return self._error


class FakeConsumer:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.subscribed: tuple[list[str], dict[str, Any]] | None = None
        self.batch: list[Msg] = []
        self.refuse_commit = False
        self.commits: list[dict[str, Any]] = []
        self.closed = 0

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.subscribed = (topics, callbacks)

    def consume(self, count: int, timeout: float) -> list[Msg]:
        return self.batch[:count]

    def commit(self, **kwargs: Any) -> None:
        if self.refuse_commit:
            raise KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS))
        self.commits.append(kwargs)

    def close(self) -> None:
        self.closed += 1


def _member(**kwargs: Any) -> tuple[GroupMember, FakeConsumer]:
    made: list[FakeConsumer] = []

    def factory(config: dict[str, Any]) -> Any:
        made.append(FakeConsumer(config))
        return made[-1]

    member = GroupMember({"group.id": "g"}, ["a", "b"], name="test", factory=factory,
                         **kwargs)
    member.join()
    return member, made[0]


def _revoke(consumer: Any, partitions: list[TopicPartition]) -> None:
    return None


def test_join_subscribes_with_the_callbacks_given_and_lost_as_revoked() -> None:
    member, consumer = _member(on_revoke=_revoke)
    assert consumer.config == {"group.id": "g"}
    assert consumer.subscribed == (["a", "b"], {"on_revoke": _revoke, "on_lost": _revoke})
    _, bare = _member()
    assert bare.subscribed == (["a", "b"], {})
    member.close()
    member.close()
    assert consumer.closed == 1
    with pytest.raises(RuntimeError):
        _ = member.consumer


def _lost(consumer: Any, partitions: list[TopicPartition]) -> None:
    return None


def test_a_stage_of_its_own_mind_gets_lost_partitions_apart() -> None:
    _, consumer = _member(on_revoke=_revoke, on_lost=_lost)
    assert consumer.subscribed == (["a", "b"], {"on_revoke": _revoke, "on_lost": _lost})


def test_fetch_leaves_errors_out_skipping_partition_ends(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Any] = []
    member, consumer = _member(on_error=seen.append)
    eof, broken = KafkaError(KafkaError._PARTITION_EOF), KafkaError(KafkaError._TRANSPORT)
    consumer.batch = [Msg(0), Msg(1, eof), Msg(2, broken), Msg(3)]
    with caplog.at_level(logging.WARNING):
        kept: list[Any] = member.fetch(10, 0.1)
    assert [m.at for m in kept] == [0, 3]
    assert [m.at for m in seen] == [2]
    assert "test: consumer error" in caplog.text and "EOF" not in caplog.text


def test_an_error_hook_that_raises_stops_the_fetch() -> None:
    def fatal(message: Any) -> None:
        raise RuntimeError("fatal")

    member, consumer = _member(on_error=fatal)
    consumer.batch = [Msg(0, KafkaError(KafkaError._FATAL))]
    with pytest.raises(RuntimeError):
        member.fetch(10, 0.1)


def test_a_refused_commit_is_logged_and_returns_false(
        caplog: pytest.LogCaptureFixture) -> None:
    member, consumer = _member()
    offsets = [TopicPartition("a", 0, 5)]
    assert member.commit(offsets=offsets, asynchronous=False)
    assert consumer.commits == [{"offsets": offsets, "asynchronous": False}]
    consumer.refuse_commit = True
    with caplog.at_level(logging.INFO):
        assert not member.commit(offsets=offsets, failed="skipped", level=logging.INFO)
    assert "test: skipped:" in caplog.text
