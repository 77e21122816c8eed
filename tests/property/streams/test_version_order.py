"""Per-key order is unnecessary: any interleaving of retries, duplicates and later updates
of one record ends in its latest version, in the table and in the last emitted event."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.cloudevents import Headers
from schemas.events import EntitySynced, decode_event
from streams.errors import FetchFailed
from streams.pipeline import Position, Processor
from streams.versions import Version
from tds.retry import Origin, RetryPolicy, route_failure
from tests.unit.streams.builders import T0, item, key, raw
from tests.unit.streams.test_pipeline import Fetcher

RT, BULK = "raw.realtime", "raw.bulk"
POLICY = RetryPolicy((1.0, 2.0, 4.0))


@dataclass(frozen=True)
class Update:
    """One published state of the record."""

    second: int  # Zoho last_modified_time, whole seconds (ties are common)
    observed: int  # when TDS saw it (µs after T0), distinct per update
    topic: str
    name: str
    deleted: bool


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Update], list[tuple[int, bool]]]:
    count = draw(st.integers(1, 6))
    observed = draw(st.lists(st.integers(0, 10_000), min_size=count, max_size=count,
                             unique=True))
    updates = [Update(second=draw(st.integers(0, 4)), observed=observed[i],
                      topic=draw(st.sampled_from((RT, BULK))),
                      name=draw(st.sampled_from("abc")),
                      deleted=draw(st.booleans()) and draw(st.booleans()))
               for i in range(count)]
    # Every update is delivered 1-3 times; any delivery after the first is a retry (or a
    # duplicate redelivery) that keeps the first offset. The order is arbitrary.
    deliveries = [(i, n > 0) for i in range(count) for n in range(draw(st.integers(1, 3)))]
    order = draw(st.permutations(deliveries))
    return updates, list(order)


def _retry_headers(topic: str, offset: int) -> Headers:
    return route_failure(POLICY, [], Origin(topic, 0, offset, 0, "g", "streams"),
                         FetchFailed("flaky")).headers


async def _run(updates: list[Update], order: list[tuple[int, bool]]) -> tuple[
        Version, EntitySynced | None]:
    processor = Processor(ranks={RT: 1, BULK: 0}, fetcher=Fetcher())
    versions: dict[bytes, bytes] = {}
    ends = {RT: 0, BULK: 0}
    first_offset: dict[int, int] = {}
    for index, update in enumerate(updates):  # publish order: index order, per topic
        first_offset[index] = ends[update.topic]
        ends[update.topic] += 1
    last: EntitySynced | None = None
    for index, is_retry in order:
        update = updates[index]
        received = T0 + timedelta(microseconds=update.observed)
        if update.deleted:
            event = raw("item", body=b'{"item_id": "1"}', entity_id="1", kind="deleted",
                        received=received)
        else:
            event = raw("item", item("1", name=update.name,
                                     modified=T0 + timedelta(seconds=update.second)),
                        received=received)
        offset = first_offset[index]
        headers = None
        if is_retry:  # the relay appends it again at the end of its original topic
            headers = [(n, v if isinstance(v, bytes) else v.encode())
                       for n, v in _retry_headers(update.topic, offset)]
            offset = ends[update.topic]
            ends[update.topic] += 1
        position = Position(update.topic, 0, offset)
        result = await processor.process(processor.decode(event.encode(), position), headers,
                                         position, versions)
        if result.value is not None:
            decoded = decode_event(result.value)
            assert isinstance(decoded, EntitySynced)
            if last is not None:  # downstream may compare versions: they only increase
                assert (decoded.version_modified_at, decoded.version_offset) >= (
                    last.version_modified_at, last.version_offset)
            last = decoded
    return Version.unpack(versions[key("item", "1")]), last


@settings(max_examples=300, deadline=None)
@given(histories())
def test_any_interleaving_ends_in_the_latest_version(
        history: tuple[list[Update], list[tuple[int, bool]]]) -> None:
    updates, order = history
    stored, last = asyncio.run(_run(updates, order))

    def order_key(i: int) -> tuple[int, int, int, int]:
        u = updates[i]
        t0 = int(T0.timestamp() * 1_000_000)
        modified = t0 + (u.observed if u.deleted else u.second * 1_000_000)
        return (modified, t0 + u.observed, 1 if u.topic == RT else 0, 0)

    latest = updates[max(range(len(updates)),
                         key=lambda i: (order_key(i)[:3], i))]  # offsets follow index
    assert stored.deleted == latest.deleted
    assert last is not None
    if latest.deleted:
        assert last.op == "delete"
    else:
        assert last.op == "upsert" and last.record is not None
        assert last.record["name"] == latest.name
