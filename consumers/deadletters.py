"""`tds dlq list|retry`: read the dead-letter topic and send chosen letters back.

A dead letter's id is `partition:offset` in the dead-letter topic (its `ce_id` works
too). Retrying sends it, key and value bytes unchanged, to the topic and partition it
first failed on with its original `ce_type`, like the relay. By default its retry
headers stay (as the admin API does), so one more failure dead-letters it again;
`reset=True` strips them, giving it the whole retry chain again. Nothing records which
letters were retried here: the admin API's `dead_letters` table does that.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from consumers.errors import ConsumerError
from schemas.cloudevents import Headers, header_map, replace_headers
from tds.kafka import consumer_config, producer_config, read_to_end
from tds.kafka_publisher import DeliveryCheck
from tds.retry import (
    H_ATTEMPT,
    H_DUE,
    H_ERROR_CLASS,
    H_ERROR_MESSAGE,
    H_ERROR_TRACE,
    H_FIRST_FAILURE,
    H_REASON,
    H_STAGE,
    RetryState,
    read_state,
    restore_headers,
)

logger = logging.getLogger(__name__)

H_RETRIED_FROM = "tds_deadletter_id"
_STATE_HEADERS = (H_ATTEMPT, H_DUE, H_REASON, H_ERROR_CLASS, H_ERROR_MESSAGE, H_ERROR_TRACE,
                  H_FIRST_FAILURE)


class DeliveryFailed(ConsumerError):
    """Kafka did not acknowledge a message the relay or `dlq retry` sent."""

    retriable = True


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message of the dead-letter topic, with what its headers say."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int
    state: RetryState

    @property
    def id(self) -> str:
        """`partition:offset`: unique within the dead-letter topic."""
        return f"{self.partition}:{self.offset}"

    @property
    def event_id(self) -> str | None:
        """The CloudEvents id the message carried."""
        value = header_map(self.headers).get("ce_id")
        return value.decode(errors="replace") if value is not None else None

    @property
    def reason(self) -> str | None:
        """`invalid` (never retriable) or `exhausted` (every retry level failed)."""
        value = header_map(self.headers).get(H_REASON)
        return value.decode(errors="replace") if value is not None else None

    @property
    def stage(self) -> str | None:
        """The stage that failed."""
        value = header_map(self.headers).get(H_STAGE)
        return value.decode(errors="replace") if value is not None else None

    def matches(self, wanted: str) -> bool:
        """Whether `wanted` names this letter (by `partition:offset` or ce_id)."""
        return wanted in (self.id, self.event_id)


def _headers(message: Message) -> Headers:
    return [(name, value) for name, value in message.headers() or () if value is not None]


def read_dead_letters(bootstrap: str, topic: str, *, limit: int | None = None,
                      timeout_s: float = 30.0) -> list[DeadLetter]:
    """Every dead letter now in `topic` (oldest first per partition), up to `limit`."""
    consumer = Consumer(consumer_config(
        bootstrap, f"tds-dlq-reader-{uuid.uuid4().hex[:8]}",
        **{"enable.partition.eof": True, "client.id": "tds-dlq"}))
    letters: list[DeadLetter] = []
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise ConsumerError(f"topic {topic} does not exist")
        ranges = {}
        for p in sorted(metadata.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                       timeout=timeout_s)
            if high > low:
                ranges[p] = (OFFSET_BEGINNING, high)
        batches = read_to_end(consumer, topic, ranges, deadline=time.monotonic() + timeout_s)
        with closing(batches):
            for message in itertools.chain.from_iterable(batches):
                headers = _headers(message)
                letters.append(DeadLetter(
                    partition=message.partition() or 0, offset=message.offset() or 0,
                    key=message.key(), value=message.value(), headers=headers,
                    timestamp_ms=message.timestamp()[1], state=read_state(headers)))
                if limit is not None and len(letters) >= limit:
                    break
    except TimeoutError:
        # A listing, not a guarantee: what was read by the deadline is shown, and said.
        logger.warning("listing %s: stopped at the %.0f s deadline after %d dead letters",
                       topic, timeout_s, len(letters))
    except KafkaException as exc:
        raise ConsumerError(f"reading {topic}: {exc}") from exc
    finally:
        consumer.close()
    return sorted(letters, key=lambda d: (d.timestamp_ms, d.partition, d.offset))


def retry_headers(letter: DeadLetter, *, reset: bool, deadletter_topic: str) -> Headers:
    """The headers a retried letter goes back with."""
    headers = restore_headers(letter.headers)
    if reset:
        headers = [(n, v) for n, v in headers if n not in _STATE_HEADERS]
    return replace_headers(headers, [(H_RETRIED_FROM,
                                      f"{deadletter_topic}:{letter.id}".encode())])


@dataclass(frozen=True, slots=True)
class RetryRoute:
    """Where a retried dead letter goes: the topic and partition it first failed on."""

    topic: str
    partition: int  # -1: the partition is gone (fewer now); the partitioner chooses
    headers: Headers


def retry_route(letter: DeadLetter, *, deadletter_topic: str, reset: bool,
                partitions: int | None) -> RetryRoute | None:
    """The one retry rule of `tds dlq retry` and the admin API: back to the partition it
    first failed on (when the topic still has it; `partitions` None: not known, trusted),
    its headers restored and tagged with the letter's id. None: no origin to go back to."""
    origin = letter.state.origin
    if origin is None:
        return None
    partition = origin.partition
    if partition < 0 or (partitions is not None and partition >= partitions):
        partition = -1
    return RetryRoute(origin.topic, partition,
                      retry_headers(letter, reset=reset, deadletter_topic=deadletter_topic))


def retry_dead_letters(bootstrap: str, letters: Sequence[DeadLetter] | Iterable[DeadLetter],
                       *, deadletter_topic: str, reset: bool = False,
                       timeout_s: float = 30.0) -> list[str]:
    """Send each letter back to where it first failed; the ids sent (all acknowledged)."""
    producer = Producer(producer_config(bootstrap, **{"client.id": "tds-dlq"}))
    check = DeliveryCheck(producer)
    sent: list[str] = []
    counts: dict[str, int] = {}
    for letter in letters:
        origin = letter.state.origin
        if origin is None:
            continue
        if origin.topic not in counts:
            found = producer.list_topics(origin.topic, timeout=timeout_s).topics.get(
                origin.topic)
            counts[origin.topic] = len(found.partitions) if found is not None else 0
        route = retry_route(letter, deadletter_topic=deadletter_topic, reset=reset,
                            partitions=counts[origin.topic])
        assert route is not None  # it has an origin
        check.produce(route.topic, letter.value, letter.key, headers=route.headers,
                      partition=route.partition)
        producer.poll(0)
        sent.append(letter.id)
    missing = check.confirm(timeout_s)
    if missing is not None:
        raise DeliveryFailed(f"{missing.left} dead letter(s) not acknowledged"
                             + (f": {missing.errors[0]}" if missing.errors else ""))
    return sent
