"""The faust engine's bulk gate survives a rebalance half done: aiokafka asserts on a
partition it no longer has, and a timer that raises crashes faust's app (seen in a chaos
run: the worker exited with 1)."""

from __future__ import annotations

from typing import Any

from faust.types import TP

from streams.faust_app import _highwater


class _Consumer:
    def __init__(self, assigned: set[TP]) -> None:
        self.assigned = assigned

    def highwater(self, tp: TP) -> int:
        assert tp in self.assigned, "Partition is not assigned"  # aiokafka's own check
        return 7


def test_a_partition_gone_mid_rebalance_has_no_high_watermark() -> None:
    consumer: Any = _Consumer({TP("rt", 0)})
    assert _highwater(consumer, TP("rt", 0)) == 7
    assert _highwater(consumer, TP("rt", 1)) is None
