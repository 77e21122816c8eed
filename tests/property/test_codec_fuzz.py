"""The codec under hostile bytes: any input decodes or raises CodecError, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import MARKER, default_codec
from schemas.errors import CodecError
from schemas.events import RawEvent, decode_event

CODEC = default_codec()
VALID = RawEvent(event_id="e", source="webhook", org_id="1", entity_type="item",
                 entity_id="9", event_kind="edited", received_at=datetime(2025, 1, 1, tzinfo=UTC),
                 body=b'{"item": {"item_id": "9"}}', content_type="application/json",
                 signature_verified=True).encode()
FINGERPRINTS = [CODEC.latest(f).fingerprint for f in CODEC.families()]


def _decode_or_our_error(data: bytes) -> None:
    try:
        decode_event(data, topic="t", partition=0, offset=1)
    except CodecError as exc:
        assert exc.topic == "t" and exc.offset == 1


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _decode_or_our_error(data)


@settings(max_examples=3000, deadline=None)
@given(fp=st.sampled_from(FINGERPRINTS), body=st.binary(max_size=300))
def test_known_fingerprint_random_body(fp: bytes, body: bytes) -> None:
    _decode_or_our_error(MARKER + fp + body)


@settings(max_examples=3000, deadline=None)
@given(position=st.integers(min_value=0, max_value=len(VALID) - 1),
       byte=st.integers(min_value=0, max_value=255), cut=st.integers(min_value=0, max_value=40))
def test_mutated_and_truncated_values(position: int, byte: int, cut: int) -> None:
    mutated = bytearray(VALID)
    mutated[position] = byte
    _decode_or_our_error(bytes(mutated[: len(mutated) - cut]))
