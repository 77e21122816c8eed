"""The worker's producer on the real broker: failed deliveries surface at the checkpoint."""

from __future__ import annotations

import os
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from streams.emit import Outbox
from streams.errors import DeliveryFailed
from tds.kafka import client_config
from tests.integration.streams.support import Reader, Topics


def test_delivered_messages_pass_and_a_failed_one_raises(kafka_bootstrap: str,
                                                         stream_topics: Topics) -> None:
    outbox = Outbox(kafka_bootstrap, linger_ms=1)
    outbox.send(stream_topics.synced, b"k", b"v", [("ce_type", b"x")], 1)
    outbox.flush(30)  # delivered: no error
    reader = Reader(kafka_bootstrap, "outbox-check", [stream_topics.synced])
    got = reader.read(lambda ms: len(ms) >= 1, 30)
    reader.close()
    assert [(m.key(), m.value(), m.partition()) for m in got] == [(b"k", b"v", 1)]
    # The broker refuses it (bigger than the topic allows): only the delivery report says.
    admin = AdminClient(client_config(kafka_bootstrap))
    small = f"test.small-{uuid.uuid4().hex[:10]}"
    admin.create_topics([NewTopic(small, 1, 1, config={"max.message.bytes": "200"})]
                        )[small].result(timeout=30)
    try:
        outbox.send(small, b"k", os.urandom(5000))  # random: lz4 cannot shrink it
        with pytest.raises(DeliveryFailed, match=small):
            outbox.flush(30)
    finally:
        outbox.close(5)
        admin.delete_topics([small])[small].result(timeout=30)
