"""Read a topic range outside any consumer group (for rebuilds), with a progress bar.

`LogReader.read(start, until)` yields batches of the messages at offsets
`start[p] <= offset < until[p]` of each partition, then stops. Transaction markers and
compacted-away offsets are skipped over, so a range may hold fewer messages than offsets.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, TextIO

from confluent_kafka import Consumer, KafkaException, TopicPartition

from consumers.errors import ConsumerError
from tds.kafka import MessageLike, consumer_config, read_to_end


class LogReader:
    """Reads one topic by assignment (no group membership, nothing committed)."""

    def __init__(self, *, bootstrap: str, topic: str, batch_size: int = 5000,
                 config: Mapping[str, Any] | None = None) -> None:
        self.topic = topic
        self._batch_size = batch_size
        overrides = {"enable.partition.eof": True, "fetch.max.bytes": 64 << 20,
                     "max.partition.fetch.bytes": 16 << 20, **dict(config or {})}
        self._config = consumer_config(bootstrap, f"tds-replay-{uuid.uuid4().hex[:8]}",
                                       **overrides)
        self._consumer = Consumer(self._config)

    def close(self) -> None:
        """Release the client."""
        self._consumer.close()

    def partitions(self) -> list[int]:
        """The topic's partition numbers."""
        meta = self._consumer.list_topics(self.topic, timeout=30).topics.get(self.topic)
        if meta is None or meta.error is not None:
            raise ConsumerError(f"topic {self.topic} not found: "
                                f"{meta.error if meta else 'no metadata'}")
        return sorted(meta.partitions)

    def watermarks(self) -> dict[int, tuple[int, int]]:
        """(low, high) offsets of each partition."""
        return {p: self._consumer.get_watermark_offsets(TopicPartition(self.topic, p),
                                                        timeout=30)
                for p in self.partitions()}

    def offsets_at(self, when: datetime) -> dict[int, int]:
        """The first offset at or after `when` in each partition (the end when none)."""
        stamp = int(when.timestamp() * 1000)
        asked = [TopicPartition(self.topic, p, stamp) for p in self.partitions()]
        found = self._consumer.offsets_for_times(asked, timeout=30)
        ends = self.watermarks()
        return {tp.partition: tp.offset if tp.offset >= 0 else ends[tp.partition][1]
                for tp in found}

    async def read(self, start: Mapping[int, int],
                   until: Mapping[int, int]) -> AsyncIterator[list[MessageLike]]:
        """Yield batches covering [start, until) of every partition."""
        ranges = {p: (start.get(p, 0), end) for p, end in until.items()}
        batches = read_to_end(self._consumer, self.topic, ranges, batch_size=self._batch_size)
        try:
            # Each fetch in a thread, so the event loop goes on meanwhile.
            while (batch := await asyncio.to_thread(next, batches, None)) is not None:
                if batch:
                    yield list(batch)
        except KafkaException as exc:
            raise ConsumerError(f"reading {self.topic}: {exc}") from exc
        finally:
            batches.close()


class Progress:
    """A one-line progress bar on stderr: events done, rate and time left."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None,
                 every_s: float = 0.2) -> None:
        self.label, self.total, self.done = label, max(total, 0), 0
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._every_s = every_s if self._tty else 5.0
        self._started = self._shown = time.monotonic()

    @property
    def rate(self) -> float:
        """Events per second so far."""
        return self.done / max(time.monotonic() - self._started, 1e-9)

    def add(self, count: int) -> None:
        """Count `count` more events; redraw at most every `every_s`."""
        self.done += count
        now = time.monotonic()
        if now - self._shown >= self._every_s:
            self._shown = now
            self._draw(final=False)

    def finish(self) -> None:
        """Draw the last state and end the line."""
        self._draw(final=True)

    def _draw(self, *, final: bool) -> None:
        share = self.done / self.total if self.total else 1.0
        width = 30
        bar = "#" * int(width * min(share, 1.0))
        rate = self.rate
        left = (self.total - self.done) / rate if rate > 0 and not final else 0.0
        line = (f"{self.label} [{bar:<{width}}] {self.done:,}/{self.total:,} events "
                f"{rate:,.0f} ev/s" + ("" if final else f" ~{left:,.0f}s left"))
        if self._tty:
            self._stream.write("\r" + line + ("\n" if final else ""))
        else:
            self._stream.write(line + "\n")
        self._stream.flush()
