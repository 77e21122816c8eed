"""The queue monitor's rows: totals per group and topic, and no broker sentinels."""

from __future__ import annotations

from api.overview import priority
from api.queue_monitor import topic_rows
from tds.kafka import PartitionLag

NO_COMMIT = -1001  # librdkafka's OFFSET_INVALID: the group never committed here


def test_totals_per_topic_and_no_sentinel() -> None:
    parts = [PartitionLag("g", "zoho.raw.bulk", 0, 40, 50),
             PartitionLag("g", "zoho.raw.bulk", 1, NO_COMMIT, 7),
             PartitionLag("g", "zoho.raw.realtime", 0, None, 3)]
    rows = topic_rows(parts, priority)
    assert [r["topic"] for r in rows] == ["zoho.raw.bulk", "zoho.raw.realtime"]
    bulk, realtime = rows
    assert (bulk["priority"], bulk["partition_count"], bulk["committed"], bulk["end"],
            bulk["lag"], bulk["uncommitted_partitions"]) == ("bulk", 2, 40, 57, 17, 1)
    assert bulk["partitions"][1] == {"partition": 1, "committed": None, "end": 7, "lag": 7}
    assert realtime["committed"] is None and realtime["uncommitted_partitions"] == 1
    assert str(NO_COMMIT) not in str(rows)
