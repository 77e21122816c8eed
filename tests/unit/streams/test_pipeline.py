"""One raw event end to end without Kafka: body shapes, version rule, pings, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from schemas.errors import CodecError
from schemas.events import EntitySynced, decode_event
from streams.errors import FetchFailed, InvalidEvent
from streams.pipeline import Position, Processor, Result
from streams.versions import Verdict
from tds.retry import Origin, RetryPolicy, route_failure
from tests.unit.streams.builders import ORG, T0, fixture, item, key, raw

RT, BULK = "zoho.raw.realtime", "zoho.raw.bulk"
NOW = datetime(2025, 11, 14, tzinfo=UTC)


class Fetcher:
    """Records from a dict; None for unknown ids; raises for ids in `broken`."""

    def __init__(self, records: dict[tuple[str, str], dict[str, Any]] | None = None,
                 broken: set[str] | None = None) -> None:
        self.records = records or {}
        self.broken = broken or set()
        self.calls: list[tuple[str, str]] = []

    async def get_record(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        self.calls.append((entity_type, entity_id))
        if entity_id in self.broken:
            raise ConnectionError("zoho down")
        return self.records.get((entity_type, entity_id))


def processor(fetcher: Fetcher | None = None) -> Processor:
    return Processor(ranks={RT: 1, BULK: 0}, fetcher=fetcher or Fetcher(), clock=lambda: NOW)


class Runner:
    """Feeds events through one processor and one versions table."""

    def __init__(self, fetcher: Fetcher | None = None) -> None:
        self.processor = processor(fetcher)
        self.versions: dict[bytes, bytes] = {}
        self.offsets = {RT: 0, BULK: 0}

    async def feed(self, event: Any, topic: str | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> Result:
        topic = topic or (RT if event.source == "webhook" else BULK)
        position = Position(topic, 0, self.offsets[topic])
        self.offsets[topic] += 1
        decoded = self.processor.decode(event.encode(), position)
        return await self.processor.process(decoded, headers, position, self.versions)


def synced(result: Result) -> EntitySynced:
    assert result.value is not None
    event = decode_event(result.value)
    assert isinstance(event, EntitySynced)
    return event


async def test_webhook_default_payload_emits_a_typed_record() -> None:
    result = await Runner().feed(raw("item", item("1", name="Bag")))
    event = synced(result)
    assert (result.verdict, result.key) == (Verdict.EMIT, key("item", "1"))
    assert (event.op, event.entity_id, event.org_id, event.version_source) == (
        "upsert", "1", ORG, RT)
    assert event.record is not None and event.record["name"] == "Bag"
    assert event.version_modified_at == T0
    assert orjson.loads(event.raw_json or "")["item_id"] == "1"
    assert len(event.content_hash) == 64
    headers = dict(result.headers or [])
    assert headers["ce_type"] == b"tds.entity.synced"
    assert headers["ce_id"] == event.event_id.encode()


async def test_form_jsonstring_and_polled_bodies() -> None:
    runner = Runner()
    form = f"JSONString={quote(orjson.dumps({'contact': fixture('contacts')}).decode())}"
    result = await runner.feed(raw("contact", fixture("contacts"), body=form.encode(),
                                   content_type="application/x-www-form-urlencoded"))
    assert synced(result).record is not None
    polled = raw("invoice", fixture("invoices"), source="poll.full", kind="snapshot", run="r1")
    event = synced(await runner.feed(polled))
    assert event.raw_json == polled.body.decode() and event.sync_run_id == "r1"
    assert event.source == "poll.full"


async def test_duplicates_stale_and_unchanged_are_skipped() -> None:
    runner = Runner()
    await runner.feed(raw("item", item("1", modified=T0 + timedelta(seconds=10))))
    poll = raw("item", item("1", modified=T0 + timedelta(seconds=10)), source="poll.full",
               kind="snapshot", received=T0 + timedelta(minutes=1))
    assert (await runner.feed(poll)).verdict is Verdict.DUPLICATE
    old = raw("item", item("1", name="Old", modified=T0))
    assert (await runner.feed(old)).verdict is Verdict.STALE
    touched = raw("item", item("1", modified=T0 + timedelta(seconds=20)))
    assert (await runner.feed(touched)).verdict is Verdict.UNCHANGED  # only the time moved
    changed = raw("item", item("1", name="New", modified=T0 + timedelta(seconds=30)))
    assert (await runner.feed(changed)).verdict is Verdict.EMIT


async def test_delete_keeps_a_tombstone() -> None:
    runner = Runner()
    await runner.feed(raw("item", item("1")))
    gone = raw("item", body=b'{"item": {"item_id": "1"}}', entity_id="1", kind="deleted",
               received=T0 + timedelta(hours=1))
    event = synced(await runner.feed(gone))
    assert (event.op, event.record, event.raw_json) == ("delete", None, None)
    assert event.version_modified_at == T0 + timedelta(hours=1)
    late = raw("item", item("1", name="Zombie", modified=T0 + timedelta(minutes=5)),
               source="poll.incremental", kind="snapshot", received=T0 + timedelta(hours=2))
    assert (await runner.feed(late)).verdict is Verdict.STALE


async def test_ping_is_completed_by_the_fetcher() -> None:
    fetcher = Fetcher({("item", "1"): item("1", name="Fetched")})
    runner = Runner(fetcher)
    result = await runner.feed(raw("item", body=b'{"item": {"item_id": "1"}}', entity_id="1"))
    event = synced(result)
    assert fetcher.calls == [("item", "1")]
    assert event.record is not None and event.record["name"] == "Fetched"
    stock = raw("stock", body=b'{"item_id": "1"}', entity_id="1", kind="ping",
                source="poll.stock")
    await runner.feed(stock)
    assert fetcher.calls[-1] == ("item", "1")  # stock lives on the item


async def test_ping_for_a_record_zoho_no_longer_has_is_a_delete() -> None:
    event = synced(await Runner().feed(raw("bill", body=b'{"bill_id": "9"}', entity_id="9",
                                           kind="ping")))
    assert (event.op, event.version_modified_at) == ("delete", NOW)


async def test_fetch_failure_is_retriable() -> None:
    runner = Runner(Fetcher(broken={"1"}))
    with pytest.raises(FetchFailed) as caught:
        await runner.feed(raw("item", body=b'{"item_id": "1"}', entity_id="1", kind="ping"))
    assert caught.value.retriable
    assert runner.versions == {}


@pytest.mark.parametrize(("body", "entity_id", "message"), [
    (b"{not json", "1", "not valid JSON"),
    (b'{"item": {"item_id": "2", "name": "x"}}', "1", "names item 1 but its body holds 2"),
    (b'{"item": {"item_id": "1", "name": "x", "rate": "cheap"}}', "1", "field 'rate'"),
    (b'[1, 2]', "1", "expected an object"),
])
async def test_input_that_can_never_succeed(body: bytes, entity_id: str, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message) as caught:
        await Runner().feed(raw("item", body=body, entity_id=entity_id))
    assert not caught.value.retriable


def test_corrupt_values_are_codec_errors() -> None:
    with pytest.raises(CodecError):
        processor().decode(b"\xc3\x01garbage-garbage", Position(RT, 0, 0))
    with pytest.raises(InvalidEvent):
        processor().decode(None, Position(RT, 0, 0))


async def test_a_retry_keeps_its_first_offset_as_its_version() -> None:
    runner = Runner()
    event = raw("item", item("1"))
    failed = route_failure(RetryPolicy((1.0,)), [], Origin(RT, 0, 41, 0, "g", "streams"),
                           FetchFailed("x")).headers
    headers = [(n, v if isinstance(v, bytes) else v.encode()) for n, v in failed]
    result = await runner.feed(event, headers=headers)
    assert result.attempt == 1
    assert synced(result).version_offset == 41


def test_attempt_of_ce_headers_alone_is_a_first_attempt() -> None:
    from schemas.cloudevents import ce_headers
    from streams.pipeline import attempt_of

    here = Position(RT, 0, 7)
    assert attempt_of(None, here) == attempt_of([], here) == (0, 7)
    assert attempt_of(ce_headers("zoho.record.polled", "/tds/pollers"), here) == (0, 7)
    failed = route_failure(RetryPolicy((1.0,)), [], Origin(RT, 0, 41, 0, "g", "streams"),
                           FetchFailed("x")).headers
    retried = [*ce_headers("zoho.record.polled", "/tds/pollers"),
               *((n, v if isinstance(v, bytes) else v.encode()) for n, v in failed)]
    assert attempt_of(retried, here) == (1, 41)


async def test_synced_headers_are_ce_headers() -> None:
    from schemas.cloudevents import ce_headers, header_map

    result = await Runner().feed(raw("item", item("1")))
    event_id = header_map(result.headers)["ce_id"].decode()
    assert result.headers == ce_headers("tds.entity.synced", "/tds/streams",
                                        event_id=event_id, time=NOW)


@pytest.mark.parametrize("now", [
    NOW,  # a whole second: no fraction in ce_time
    NOW + timedelta(microseconds=1),
    NOW + timedelta(seconds=59, microseconds=999_999),
    (NOW + timedelta(microseconds=123_456)).astimezone(timezone(timedelta(hours=3))),
])
async def test_synced_time_and_ce_time_for_any_clock(now: datetime) -> None:
    from schemas.cloudevents import ce_headers, header_map

    runner, current = Runner(), [now]
    runner.processor = Processor(ranks={RT: 1, BULK: 0}, fetcher=Fetcher(),
                                 clock=lambda: current[0])
    # The same second twice, then another: the second's cached text must not leak.
    for n, when in enumerate((now, now + timedelta(microseconds=7), now + timedelta(hours=1))):
        current[0] = when
        result = await runner.feed(raw("item", item(str(n))))
        event_id = header_map(result.headers)["ce_id"].decode()
        assert result.headers == ce_headers("tds.entity.synced", "/tds/streams",
                                            event_id=event_id, time=when)
        assert synced(result).synced_at == when


def test_canonical_entity_names_are_their_own_aliases() -> None:
    from schemas.zoho_payload import ID_FIELDS, canonical_entity

    # read_event skips the alias lookup for a canonical name.
    assert all(canonical_entity(name) == name for name in ID_FIELDS)


async def test_a_record_the_writer_fed_back_is_marked_as_the_erps() -> None:
    runner = Runner()
    written = raw("item", item("1", name="Bag"), source="writeback", kind="created",
                  attributes={"origin": "erp", "command_id": "cmd-1"})
    headers = dict((await runner.feed(written, topic=RT)).headers or [])
    assert (headers["tds_origin"], headers["tds_command_id"]) == (b"erp", b"cmd-1")
    # Zoho's own change of the record carries no marks.
    changed = raw("item", item("1", name="Bag 2", modified=T0 + timedelta(seconds=5)))
    assert "tds_origin" not in dict((await runner.feed(changed)).headers or [])
