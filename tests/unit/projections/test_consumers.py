"""The batching loop's batch/claim logic and the dead-letter and sync-run rows, with
message stubs (no Kafka, no PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import KafkaError

from consumers.batching import BatchingConsumer, Claim
from projections import dead_letters, sync_runs
from schemas.events import SyncRunEvent
from tds.retry import Origin, RetryPolicy, route_failure


@dataclass
class Stub:
    """A MessageLike stand-in."""

    t: str
    p: int
    o: int
    k: bytes | None = b"1:item:7"
    v: bytes | None = b"v"
    h: list[tuple[str, bytes]] = field(default_factory=list)

    def topic(self) -> str | None:
        return self.t

    def partition(self) -> int | None:
        return self.p

    def offset(self) -> int | None:
        return self.o

    def key(self) -> bytes | None:
        return self.k

    def value(self) -> bytes | None:
        return self.v

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self.h

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)

    def error(self) -> KafkaError | None:
        return None


class NoStore:
    async def load(self, partitions: object) -> dict[tuple[str, int], int]:
        return {}

    async def restart(self, topic: str, partition: int, *, stored: int, offset: int,
                      reason: str) -> None:
        raise AssertionError("no stored position to leave the log")


async def _noop(batch: object) -> None:
    return None


def test_batches_claim_from_the_stored_position_and_skip_what_is_done() -> None:
    loop = BatchingConsumer(bootstrap="127.0.0.1:1", group="g", topics=["t"],
                            store=NoStore(), handler=_noop)
    loop._positions = {("t", 0): 10, ("t", 1): None}
    batch = loop._batch([Stub("t", 0, 9), Stub("t", 0, 10), Stub("t", 0, 14),
                         Stub("t", 1, 0), Stub("t", 2, 5)])
    assert batch is not None
    assert [(m.partition(), m.offset()) for m in batch.messages] == [(0, 10), (0, 14), (1, 0)]
    assert batch.claims == (Claim("t", 0, 10, 15), Claim("t", 1, None, 1))
    assert loop._batch([Stub("t", 2, 1)]) is None  # not assigned (revoked meanwhile)


def test_a_reset_range_is_replayed_unclaimed_then_claimed_from_the_stored_position() -> None:
    loop = BatchingConsumer(bootstrap="127.0.0.1:1", group="g", topics=["t"],
                            store=NoStore(), handler=_noop)
    loop._positions = {("t", 0): 3}
    loop._replay_until = {("t", 0): 6}
    batch = loop._batch([Stub("t", 0, o) for o in range(3, 9)])
    assert batch is not None
    assert batch.replays == (Claim("t", 0, 3, 6),)
    assert batch.claims == (Claim("t", 0, 6, 9),)  # PostgreSQL still holds 6
    assert [batch.replayed("t", 0, o) for o in (2, 3, 5, 6)] == [False, True, True, False]


def test_dead_letter_rows_carry_the_headers() -> None:
    error = ValueError("boom")
    routing = route_failure(RetryPolicy(()), [("ce_type", b"tds.entity.synced")],
                            Origin("tds.entity.synced", 2, 40, 1_700_000_000_000, "g",
                                   "projector"), error)
    row = dict(zip(dead_letters._COLUMNS, dead_letters.row(
        topic="tds.deadletter", partition=1, offset=7, timestamp_ms=1_700_000_000_000,
        key=b"60012345:item:7", value=b"\x00bytes", headers=routing.headers), strict=True))
    assert row["id"] == "tds.deadletter/1/7"
    assert (row["org_id"], row["entity_type"], row["entity_id"]) == ("60012345", "item", "7")
    assert (row["original_topic"], row["original_partition"], row["original_offset"]) == \
        ("tds.entity.synced", 2, 40)
    assert row["stage"] == "projector" and row["error_class"] == "ValueError"
    assert row["reason"] == "exhausted" and row["ce_type"] == "tds.entity.synced"
    assert row["message_value"] == b"\x00bytes"


def test_sync_run_rows_rank_terminal_states_higher() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    started = SyncRunEvent(event_id="a", run_id="r", status="started", run_type="stock",
                           source="zoho", org_id="1", entity_types=["stock"], at=at)
    done = SyncRunEvent(event_id="b", run_id="r", status="failed", run_type="stock",
                        source="zoho", org_id="1", entity_types=["stock"], at=at, error="x")
    cols = sync_runs._COLUMNS
    first, last = (dict(zip(cols, sync_runs.row(e), strict=True)) for e in (started, done))
    assert first["started_at"] == at and first["finished_at"] is None
    assert last["finished_at"] == at and last["status_rank"] > first["status_rank"]
