"""One lag computation for the stream gate and the API: committed vs end, per partition."""

from __future__ import annotations

from confluent_kafka import TopicPartition

from tds.kafka import partition_lags

ENDS = {("t", 2): 40, ("t", 0): 100, ("t", 1): 50, ("t", 3): 7}


def test_lag_per_partition_with_and_without_commits() -> None:
    committed = [TopicPartition("t", 0, 60), TopicPartition("t", 1, -1001),
                 TopicPartition("t", 3, 9)]
    lags = partition_lags("g", committed, ENDS)
    assert [(p.partition, p.has_commit, p.lag) for p in lags] == [
        (0, True, 40),  # end - committed
        (1, False, 50),  # librdkafka's "no commit" (-1001): the whole partition
        (2, False, 40),  # no answer for it at all: the same
        (3, True, 0),  # a commit beyond the end (topic created again): nothing left
    ]
    assert {p.group for p in lags} == {"g"} and lags[1].committed == -1001
