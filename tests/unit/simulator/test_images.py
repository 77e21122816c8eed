"""Images are real files: decode the PNG and walk the JPEG's segments and scan."""

from __future__ import annotations

import hashlib
import struct
import zlib

from simulator.images import image_bytes


def test_png_decodes_to_16x16_rgb() -> None:
    data = image_bytes(1, "123", "png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = body
        pos += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    assert (width, height) == (16, 16)
    assert len(zlib.decompress(chunks[b"IDAT"])) == 16 * (1 + 16 * 3)


def _dc_levels(jpeg: bytes) -> list[int]:
    """Decode the DC-only scan the encoder writes (4-bit size codes, 1-bit EOB)."""
    start = jpeg.index(b"\xff\xda")
    (length,) = struct.unpack(">H", jpeg[start + 2 : start + 4])
    scan = jpeg[start + 2 + length : jpeg.rindex(b"\xff\xd9")].replace(b"\xff\x00", b"\xff")
    bits = "".join(f"{b:08b}" for b in scan)
    pos, previous, levels = 0, 0, []
    for _ in range(4):
        size = int(bits[pos : pos + 4], 2)
        pos += 4
        raw = bits[pos : pos + size]
        pos += size
        value = int(raw, 2) if raw else 0
        if size and raw[0] == "0":
            value -= (1 << size) - 1
        previous += value
        levels.append(previous // 8 + 128)
        assert bits[pos] == "0"  # end of block
        pos += 1
    return levels


def test_jpeg_structure_and_content() -> None:
    data = image_bytes(3, "456", "jpg")
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    markers = []
    pos = 2
    while data[pos : pos + 2] != b"\xff\xda":
        marker, length = struct.unpack(">HH", data[pos : pos + 4])
        markers.append(marker)
        pos += 2 + length
    assert markers == [0xFFE0, 0xFFDB, 0xFFC0, 0xFFC4, 0xFFC4]
    levels = _dc_levels(data)
    assert levels == list(hashlib.sha256(b"3:456").digest()[:4])  # the four block shades
    assert levels != _dc_levels(image_bytes(3, "457", "jpg"))


def test_images_are_deterministic() -> None:
    assert image_bytes(9, "1", "jpg") == image_bytes(9, "1", "jpg")
    assert image_bytes(9, "1", "jpg") != image_bytes(10, "1", "jpg")
