"""The queue monitor's rows: lag per consumer group and topic, with totals, partitions
inside, and no broker sentinels (a partition without a commit has `committed: None`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tds.kafka import PartitionLag


def partition_row(p: PartitionLag) -> dict[str, Any]:
    """One partition as the API shows it: librdkafka's -1001 ("no commit") becomes None."""
    return {"partition": p.partition, "committed": p.committed if p.has_commit else None,
            "end": p.end, "lag": p.lag}


def topic_rows(partitions: Iterable[PartitionLag],
               priority: Callable[[str], str]) -> list[dict[str, Any]]:
    """Per topic: partition count, summed committed offsets (None when no partition has a
    commit), summed log ends and lag, how many partitions lack a commit, and the partitions."""
    by_topic: dict[str, list[PartitionLag]] = {}
    for p in partitions:
        by_topic.setdefault(p.topic, []).append(p)
    rows = []
    for topic, parts in sorted(by_topic.items()):
        committed = [p.committed for p in parts if p.has_commit and p.committed is not None]
        rows.append({
            "topic": topic, "priority": priority(topic), "partition_count": len(parts),
            "committed": sum(committed) if committed else None,
            "uncommitted_partitions": len(parts) - len(committed),
            "end": sum(p.end for p in parts), "lag": sum(p.lag for p in parts),
            "partitions": [partition_row(p) for p in parts],
        })
    return rows
