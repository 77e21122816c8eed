"""Replay's collapser: the newest accepted event of each record wins, bad values are
counted and skipped, and a record whose newest event does not decode is refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bench.projector.events import event
from projections.bulk import Collapser, Unresolvable
from projections.catalog import MODELS
from schemas.codec import MARKER
from schemas.events import EntitySynced

_T0 = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Message:
    """The part of a Kafka message the collapser reads."""

    o: int
    v: bytes | None

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self.o

    def value(self) -> bytes | None:
        return self.v


def _collapse(events: list[EntitySynced | bytes | None]) -> Collapser:
    collapser = Collapser(MODELS, topic="t")
    collapser.add(Message(i, e.encode() if isinstance(e, EntitySynced) else e)
                  for i, e in enumerate(events))
    return collapser


def _item(seconds: int, *, stock: bool) -> EntitySynced:
    base = event("item", "7", at=_T0 + timedelta(seconds=seconds), offset=seconds)
    levels = [{"location_id": "loc0", "location_name": None, "location_kind": "location",
               "stock_on_hand": None, "available_stock": None,
               "actual_available_stock": None, "committed_stock": None}] if stock else []
    return EntitySynced(**{**base.to_avro(), "record": {**(base.record or {}),
                                                        "stock": levels}})


def test_the_newest_event_of_each_record_wins_whatever_the_order() -> None:
    older = event("contact", "1", at=_T0, offset=1)
    newer = event("contact", "1", at=_T0 + timedelta(seconds=5), offset=2)
    gone = event("contact", "2", at=_T0, offset=3, op="delete")
    winners = _collapse([newer, gone, older, newer]).winners()
    assert sorted((p.event.entity_id, p.event.event_id) for p in winners["contacts"]) == \
        [("1", newer.event_id), ("2", gone.event_id)]
    assert winners["items"] == []


def test_stock_takes_the_newest_item_that_carries_stock() -> None:
    with_stock, without = _item(1, stock=True), _item(2, stock=False)
    winners = _collapse([with_stock, without]).winners()
    assert [p.event.event_id for p in winners["items"]] == [without.event_id]
    assert [p.event.event_id for p in winners["stock"]] == [with_stock.event_id]


def test_values_that_do_not_decode_are_counted_and_skipped() -> None:
    good = event("bill", "1", at=_T0, offset=1)
    collapser = _collapse([b"junk", None, MARKER + b"\x00" * 8, good])
    assert collapser.rejected == 2  # the tombstone (None) is not an error
    assert [p.event.event_id for p in collapser.winners()["bills"]] == [good.event_id]


def test_a_newest_event_without_a_record_is_refused() -> None:
    good = event("bill", "1", at=_T0, offset=1)
    broken = EntitySynced(**{**good.to_avro(), "record": None, "raw_json": None,
                             "version_offset": 2, "event_id": "x"})
    with pytest.raises(Unresolvable):
        _collapse([good, broken]).winners()
