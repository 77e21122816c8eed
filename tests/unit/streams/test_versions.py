"""The version rule: newer and changed emits; stale, duplicate and unchanged skip."""

from __future__ import annotations

from streams.versions import RANK_BULK, RANK_REALTIME, Verdict, Version, decide

A, B = b"a" * 32, b"b" * 32


def v(modified: int, *, observed: int | None = None, rank: int = RANK_REALTIME,
      offset: int = 0, content: bytes = A, deleted: bool = False) -> Version:
    return Version(modified, modified if observed is None else observed, rank, 0, offset,
                   content, deleted)


def test_first_version_emits_and_is_stored() -> None:
    decision = decide(None, v(10, offset=3))
    assert decision.verdict is Verdict.EMIT and decision.emit_us == 10
    assert decision.store is not None and decision.store.emitted_offset == 3


def test_newer_and_changed_emits_older_is_stale() -> None:
    stored = decide(None, v(10)).store
    assert decide(stored, v(20, offset=1, content=B)).verdict is Verdict.EMIT
    stale = decide(stored, v(5, offset=9, content=B))
    assert (stale.verdict, stale.store) == (Verdict.STALE, None)


def test_same_content_is_duplicate_or_unchanged_and_advances() -> None:
    stored = decide(None, v(10)).store
    dup = decide(stored, v(10, observed=11, rank=RANK_BULK, offset=7))
    assert dup.verdict is Verdict.DUPLICATE and dup.store is not None
    touched = decide(stored, v(30, offset=8))
    assert touched.verdict is Verdict.UNCHANGED and touched.store is not None
    # the advanced version makes an older change stale, even though it was never emitted
    assert decide(touched.store, v(20, offset=9, content=B)).verdict is Verdict.STALE


def test_same_second_tie_goes_to_the_later_observation_across_topics() -> None:
    webhook = v(10, observed=100, rank=RANK_REALTIME, offset=50)
    poll = v(10, observed=200, rank=RANK_BULK, offset=3, content=B)
    for first, second in ((webhook, poll), (poll, webhook)):
        stored = decide(None, first).store
        winner = decide(stored, second)
        final = winner.store or stored
        assert final is not None and final.content_hash == B


def test_emitted_versions_strictly_increase_on_ties() -> None:
    stored = decide(None, v(10, observed=100, rank=RANK_REALTIME, offset=50)).store
    later = decide(stored, v(10, observed=200, rank=RANK_BULK, offset=3, content=B))
    assert later.verdict is Verdict.EMIT
    assert (later.emit_us, 3) > (10, 50)  # nudged past the last emitted (time, offset)
    assert later.emit_us == 11


def test_redelivery_of_the_last_emitted_event_emits_it_again() -> None:
    first = v(10, offset=4)
    stored = decide(None, first).store
    again = decide(stored, first)
    assert (again.verdict, again.emit_us, again.store) == (Verdict.REEMIT, 10, None)
    # ...even after a same-content event advanced the table (its output may be the lost one)
    advanced = decide(stored, v(20, offset=5)).store
    assert decide(advanced, first).verdict is Verdict.REEMIT
    # ...but not once a different version was emitted after it
    replaced = decide(stored, v(20, offset=5, content=B)).store
    assert decide(replaced, first).verdict is Verdict.STALE


def test_deletes_are_tombstones() -> None:
    stored = decide(None, v(10)).store
    delete = decide(stored, v(15, offset=2, content=bytes(32), deleted=True))
    assert delete.verdict is Verdict.EMIT and delete.store is not None and delete.store.deleted
    late = decide(delete.store, v(12, offset=3, content=B))
    assert late.verdict is Verdict.STALE
    twice = decide(delete.store, v(16, offset=4, content=bytes(32), deleted=True))
    assert twice.verdict is Verdict.UNCHANGED


def test_pack_round_trip() -> None:
    version = Version(1, 2, 1, 3, 4, B, True, 5, 1, 6)
    assert Version.unpack(version.pack()) == version
