"""The hand-written prefix reader agrees with the codec on any `tds.entity.synced` value,
and refuses hostile bytes only with CodecError."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.projector.events import event
from projections.model import version
from schemas.codec import MARKER, default_codec
from schemas.errors import CodecError
from schemas.events import ENTITY_TYPES, EntitySynced
from schemas.fast_synced import Prefix, PrefixReader

CODEC = default_codec()
READER = PrefixReader()
FINGERPRINT = CODEC.latest("entity_synced").fingerprint
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

texts = st.text(max_size=40)
# Whole microseconds either side of the epoch, as timestamp-micros stores them.
instants = st.integers(min_value=-(2**52), max_value=2**52).map(
    lambda us: _EPOCH + timedelta(microseconds=us))


@st.composite
def synced(draw: st.DrawFn) -> EntitySynced:
    """Any event: random identity and version, a real record of its type (or a delete)."""
    entity_type = draw(st.sampled_from(ENTITY_TYPES))
    op = draw(st.sampled_from(["upsert", "delete"]))
    base = event(entity_type, draw(texts), at=draw(instants),
                 offset=draw(st.integers(min_value=-(2**63), max_value=2**63 - 1)), op=op,
                 rng=random.Random(draw(st.integers(0, 2**32))), org_id=draw(texts))
    return EntitySynced(**{**base.to_avro(), "record": base.record,
                           "event_id": draw(texts)})


@settings(max_examples=400, deadline=None)
@given(synced())
def test_prefix_agrees_with_the_codec(value: EntitySynced) -> None:
    data = value.encode()
    prefix = READER.read(data)
    _, decoded = CODEC.decode(data)
    assert prefix is not None
    assert (prefix.event_id, prefix.op, prefix.org_id, prefix.entity_type, prefix.entity_id,
            prefix.version_offset) == (decoded["event_id"], decoded["op"], decoded["org_id"],
                                       decoded["entity_type"], decoded["entity_id"],
                                       decoded["version_offset"])
    assert _EPOCH + timedelta(microseconds=prefix.modified_us) == decoded["version_modified_at"]


@settings(max_examples=200, deadline=None)
@given(synced(), synced())
def test_prefix_orders_versions_as_the_projector_does(a: EntitySynced, b: EntitySynced) -> None:
    pa, pb = READER.read(a.encode()), READER.read(b.encode())
    assert pa is not None and pb is not None
    assert (pa.version < pb.version) == (version(a) < version(b))
    assert (pa.version == pb.version) == (version(a) == version(b))


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=200))
def test_hostile_bodies_raise_our_error_only(body: bytes) -> None:
    try:
        prefix = READER.read(MARKER + FINGERPRINT + body)
    except CodecError:
        return
    assert isinstance(prefix, Prefix)  # a known schema always gives a prefix or an error


def test_unknown_schemas_are_left_to_the_codec() -> None:
    assert READER.read(MARKER + b"\x00" * 8 + b"\x02a") is None
