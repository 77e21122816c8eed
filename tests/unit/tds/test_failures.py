"""One rule for the dead-letter reason, the same for every stage's router."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from consumers.failures import FailureRouter as ConsumerRouter
from schemas.cloudevents import header_map
from tds.errors import TDSError
from tds.failures import FailureRouter
from tds.metrics import Metrics
from tds.retry import H_REASON, RetryPolicy

NOW = datetime(2025, 11, 13, tzinfo=UTC)
POLICY = RetryPolicy((1.0,))


class Permanent(TDSError):
    """Our error without a flag of its own: permanent (TDSError says so)."""


class Flaky(TDSError):
    """Our error that may pass next time."""

    retriable = True


class ForeignPermanent(Exception):
    """A foreign error that says it is permanent."""

    retriable = False


def route_twice(error: BaseException) -> tuple[str, str]:
    """Reasons of a first failure and of the failure of its retry."""
    router = FailureRouter(policy=POLICY, group="g", stage="s", deadletter_topic="t.dlq",
                           retry_topic=lambda n: f"t.retry.{n}", clock=lambda: NOW)
    first = router.route(key=b"k", value=b"v", headers=None, topic="raw", partition=1,
                         offset=2, timestamp_ms=3, error=error)
    again = router.route(key=b"k", value=b"v", headers=first.headers, topic="t.retry.1",
                         partition=0, offset=0, timestamp_ms=4, error=error)
    for failed in (first, again):
        assert failed.topic == ("t.dlq" if failed.dead else f"t.retry.{failed.attempt}")
        header = header_map(failed.headers).get(H_REASON)
        assert header == (failed.reason.encode() if failed.dead else None)
    return first.reason, again.reason


@pytest.mark.parametrize(("error", "reasons"), [
    (Permanent("no"), ("invalid", "invalid")),
    (ForeignPermanent("no"), ("invalid", "invalid")),
    (Flaky("later"), ("retry", "exhausted")),
    (ConnectionError("down"), ("retry", "exhausted")),
])
def test_the_reason_follows_the_error_and_the_levels(
        error: BaseException, reasons: tuple[str, str]) -> None:
    assert route_twice(error) == reasons


class Message:
    """The part of a consumed message the consumers' router reads."""

    def topic(self) -> str:
        return "tds.entity.synced"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 5

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return b"v"

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (0, -1)

    def error(self) -> None:
        return None


class Producer:
    """Records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.sent.append((topic, kwargs))


def test_consumers_count_dead_letters_under_the_same_reason() -> None:
    metrics = Metrics.create(CollectorRegistry())
    producer = Producer()
    router = ConsumerRouter(producer=producer, policy=POLICY,  # type: ignore[arg-type]
                            group="g", stage="images", metrics=metrics,
                            topic_for=lambda t: f"x.{t}")
    routed = router.route(Message(), Permanent("no"))
    assert (routed.topic, routed.dead) == ("x.tds.deadletter", True)
    (topic, sent), = producer.sent
    assert topic == "x.tds.deadletter" and (sent["key"], sent["value"]) == (b"k", b"v")
    assert header_map(sent["headers"])[H_REASON] == b"invalid"
    assert metrics.dead_letters.labels("images", "invalid")._value.get() == 1
