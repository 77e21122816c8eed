"""The synchronous delivery check: what a flush left unacknowledged, and a full queue."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from tds.kafka_publisher import DeliveryCheck, Unconfirmed
from tests.unit.webhook.stubs import StubProducer


def test_confirm_is_none_once_everything_is_acknowledged() -> None:
    producer = StubProducer()
    check = DeliveryCheck(producer)
    check.produce("t", b"v", b"k", headers=[("h", b"1")], partition=2)
    assert check.pending == 1
    assert check.confirm(1.0) is None
    assert check.pending == 0
    (sent,) = producer.delivered
    assert (sent.topic, sent.value, sent.key, sent.headers) == ("t", b"v", b"k", [("h", b"1")])


def test_confirm_reports_errors_and_what_is_left() -> None:
    producer = StubProducer()
    producer.fail_with = KafkaError(KafkaError._MSG_TIMED_OUT)
    check = DeliveryCheck(producer)
    check.produce("t", b"1")
    missing = check.confirm(1.0)
    assert missing is not None and missing.left == 0
    assert [e.code() for e in missing.errors] == [KafkaError._MSG_TIMED_OUT]
    producer.fail_with, producer.stuck = None, True
    check.produce("t", b"2")
    assert check.confirm(0.01) == Unconfirmed(1, ())  # earlier errors were reported once


def test_a_full_queue_raises_unless_told_to_wait_for_room() -> None:
    producer = StubProducer(capacity=1)
    check = DeliveryCheck(producer)
    check.produce("t", b"1")
    with pytest.raises(BufferError):
        check.produce("t", b"2")
    producer.auto_ack = True  # a poll acknowledges what is queued
    waiting = DeliveryCheck(producer, room_wait_s=0.01)
    waiting.produce("t", b"2")
    assert waiting.pending == 1 and [m.value for m in producer.delivered] == [b"1"]
