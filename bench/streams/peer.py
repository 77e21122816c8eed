"""The peer: a plain confluent-kafka consume → transform → produce loop doing the worker's
work (the same `streams.pipeline.Processor`, a dict for the versions table, the ledger
count per run event), at least once: outputs flushed before offsets are committed.

    python -m bench.streams.peer BOOTSTRAP GROUP SOURCE_TOPIC SYNCED_TOPIC LEDGER_TOPIC COUNT
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaException, Producer

from streams.fetch import NoFetcher
from streams.pipeline import Position, Processor, micros
from streams.runs import count_message
from tds.kafka import consumer_config, producer_config


async def run(bootstrap: str, group: str, source: str, synced: str, ledger: str,
              count: int) -> None:
    consumer = Consumer(consumer_config(bootstrap, group, **{"fetch.min.bytes": 1}))
    producer = Producer(producer_config(bootstrap, **{"linger.ms": 5}))
    consumer.subscribe([source])
    processor = Processor(ranks={source: 0}, fetcher=NoFetcher())
    versions: dict[bytes, bytes] = {}
    seen, last_commit = 0, time.monotonic()

    while seen < count:
        for message in consumer.consume(500, 0.5):
            if message.error() is not None:
                continue
            position = Position(message.topic() or "", message.partition() or 0,
                                message.offset() or 0)
            raw = processor.decode(message.value(), position)
            result = await processor.process(raw, message.headers(), position, versions)
            if result.value is not None:
                producer.produce(synced, value=result.value, key=result.key,
                                 headers=result.headers, partition=position.partition)
            if result.sync_run_id:
                producer.produce(ledger, key=result.sync_run_id.encode(),
                                 value=count_message(result.sync_run_id, "changed", raw.source,
                                                     raw.org_id, micros(datetime.now(UTC))))
            producer.poll(0)
            seen += 1
        if time.monotonic() - last_commit > 1.0:
            producer.flush(30)
            consumer.commit(asynchronous=False)
            last_commit = time.monotonic()
    producer.flush(30)
    with contextlib.suppress(KafkaException):  # nothing new since the last commit
        consumer.commit(asynchronous=False)
    consumer.close()


if __name__ == "__main__":
    bootstrap, group, source, synced, ledger, count = sys.argv[1:7]
    asyncio.run(run(bootstrap, group, source, synced, ledger, int(count)))
