"""The stream worker's per-event pipeline without Kafka: `Processor.decode` + `process`
over the bench's workload, in µs of CPU per event, and a digest of every output so a
change can be shown not to alter one byte.

    python -m bench.streams.pipeline_micro [--events 20000] [--rounds 5] [--profile FILE]

Two passes per round, like the bench's runs: `changed` (a fresh versions table, every
event emits) and `unchanged` (the same events at later offsets, every one skipped by the
version rule as a duplicate). The clock is fixed, so the digest depends only on the code.
Wrap timing runs in `flock /tmp/tds-bench.lock` on shared machines.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import statistics
import time
from datetime import UTC, datetime

from bench.streams.workload import events
from streams.fetch import NoFetcher
from streams.pipeline import Position, Processor

TOPIC = "zoho.raw.bulk"
NOW = datetime(2025, 11, 15, tzinfo=UTC)


async def _pass(processor: Processor, values: list[bytes], versions: dict[bytes, bytes],
                digest: hashlib._Hash | None, first_offset: int = 0) -> float:
    """CPU seconds for one pass over `values`; outputs folded into `digest` if given."""
    start = time.process_time()
    for offset, value in enumerate(values, first_offset):
        position = Position(TOPIC, 0, offset)
        raw = processor.decode(value, position)
        result = await processor.process(raw, None, position, versions)
        if digest is not None:
            digest.update(repr((result.verdict, result.key, result.value,
                                result.headers)).encode())
    return time.process_time() - start


async def run(count: int, rounds: int, profile: str | None) -> None:
    values = [value for _, value in events(count, seed="micro")]
    processor = Processor(ranks={TOPIC: 0}, fetcher=NoFetcher(), clock=lambda: NOW)
    digest = hashlib.sha256()
    check: dict[bytes, bytes] = {}
    await _pass(processor, values, check, digest)  # warm-up, and the outputs' digest
    await _pass(processor, values, check, digest, len(values))
    profiler = cProfile.Profile() if profile else None
    changed: list[float] = []
    unchanged: list[float] = []
    for _ in range(rounds):
        versions: dict[bytes, bytes] = {}
        if profiler is not None:
            profiler.enable()
        changed.append(await _pass(processor, values, versions, None) / count * 1e6)
        unchanged.append(await _pass(processor, values, versions, None, count) / count * 1e6)
        if profiler is not None:
            profiler.disable()
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
    print(f"events {count}, rounds {rounds}, outputs sha256 {digest.hexdigest()[:16]}")
    for name, samples in (("changed", changed), ("unchanged", unchanged)):
        print(f"{name:>9}: min {min(samples):6.2f}  median {statistics.median(samples):6.2f}"
              " µs/event")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.streams.pipeline_micro",
                                     description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", help="write cProfile stats of the timed rounds here")
    args = parser.parse_args()
    asyncio.run(run(args.events, args.rounds, args.profile))


if __name__ == "__main__":
    main()
