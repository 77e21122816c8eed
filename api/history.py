"""Charts over time: sample this process tree's Prometheus counters into a ring buffer.

The dashboard's throughput, error-rate and Zoho-call charts are rates of the same
counters Prometheus scrapes, so the two never disagree.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from schemas.topics import ENTITY_SYNCED


@dataclass(frozen=True, slots=True)
class Sample:
    """Counter totals at one instant."""

    at: float
    synced: float
    consumed: float
    failed: float
    zoho_calls: float


def read_sample(exposition: bytes, at: float) -> Sample:
    """Sum the counters the charts need out of a text exposition."""
    synced = consumed = failed = zoho = 0.0
    for family in text_string_to_metric_families(exposition.decode()):
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            if sample.name == "tds_events_produced_total" and \
                    sample.labels.get("topic") == ENTITY_SYNCED:
                synced += sample.value
            elif sample.name == "tds_events_consumed_total":
                consumed += sample.value
            elif sample.name in ("tds_retries_scheduled_total", "tds_dead_letters_total"):
                failed += sample.value
            elif sample.name == "tds_zoho_api_calls_total":
                zoho += sample.value
    return Sample(at, synced, consumed, failed, zoho)


class History:
    """A bounded series of samples and the per-minute rates derived from them."""

    def __init__(self, *, read: Callable[[], bytes], interval_s: float = 10.0,
                 keep: int = 360) -> None:
        self._read = read
        self._interval_s = interval_s
        self._samples: deque[Sample] = deque(maxlen=keep)

    def sample(self, now: float | None = None) -> None:
        """Take one sample now."""
        self._samples.append(read_sample(self._read(), time.time() if now is None else now))

    async def run(self) -> None:
        """Sample forever (cancel to stop)."""
        while True:
            # On a thread: reading other processes' /metrics must not hold the loop that
            # answers webhooks.
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(self._interval_s)

    def series(self) -> dict[str, list[tuple[float, float]]]:
        """Per-minute throughput and Zoho calls, and error rate in percent, per interval."""
        out: dict[str, list[tuple[float, float]]] = {
            "throughput_per_min": [], "zoho_calls_per_min": [], "error_rate_pct": []}
        samples = list(self._samples)
        for before, after in itertools.pairwise(samples):
            minutes = max(1e-9, (after.at - before.at) / 60)
            out["throughput_per_min"].append(
                (after.at, max(0.0, after.synced - before.synced) / minutes))
            out["zoho_calls_per_min"].append(
                (after.at, max(0.0, after.zoho_calls - before.zoho_calls) / minutes))
            consumed = after.consumed - before.consumed
            failed = max(0.0, after.failed - before.failed)
            out["error_rate_pct"].append(
                (after.at, 100.0 * failed / consumed if consumed > 0 else 0.0))
        return out
