"""Tiny deterministic item images: real baseline JPEG and PNG files, built without libraries."""

from __future__ import annotations

import hashlib
import struct
import zlib

CONTENT_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png"}
SIZE = 16  # pixels per side: 2 x 2 blocks of 8 x 8


def image_bytes(seed: int, image_id: str, kind: str) -> bytes:
    """Return the image for an image id; the same inputs always give the same bytes."""
    digest = hashlib.sha256(f"{seed}:{image_id}".encode()).digest()
    if kind == "png":
        return _png(digest)
    return _jpeg([digest[n] for n in range(4)])


def _png(digest: bytes) -> bytes:
    rows = bytearray()
    for y in range(SIZE):
        rows.append(0)  # filter type: none
        for x in range(SIZE):
            rows += bytes(((digest[0] + 8 * x) % 256, (digest[1] + 8 * y) % 256, digest[2]))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">HH", marker, len(body) + 2) + body


def _jpeg(shades: list[int]) -> bytes:
    """Encode a grayscale image of four flat 8 x 8 blocks (DC coefficients only)."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\x00" + b"\x01" * 64  # table 0, all ones: the DC value survives exactly
    sof = struct.pack(">BHHBBBB", 8, SIZE, SIZE, 1, 1, 0x11, 0)
    # DC table: twelve 4-bit codes, code n = size category n. AC table: one 1-bit code, EOB.
    dht_dc = b"\x00" + bytes([0, 0, 0, 12] + [0] * 12) + bytes(range(12))
    dht_ac = b"\x10" + bytes([1] + [0] * 15) + b"\x00"
    sos = b"\x01\x01\x00\x00\x3f\x00"
    bits: list[int] = []
    previous = 0
    for shade in shades:
        dc = 8 * (shade - 128)  # the 2-D DCT of a flat block keeps 8x the level shift
        diff = dc - previous
        previous = dc
        size = abs(diff).bit_length()
        bits += [(size >> b) & 1 for b in range(3, -1, -1)]
        magnitude = diff if diff >= 0 else diff + (1 << size) - 1
        bits += [(magnitude >> b) & 1 for b in range(size - 1, -1, -1)]
        bits.append(0)  # EOB: every AC coefficient is zero
    bits += [1] * (-len(bits) % 8)
    scan = bytearray()
    for n in range(0, len(bits), 8):
        byte = int("".join(map(str, bits[n : n + 8])), 2)
        scan.append(byte)
        if byte == 0xFF:
            scan.append(0)  # byte stuffing
    return (
        b"\xff\xd8"
        + _segment(0xFFE0, app0)
        + _segment(0xFFDB, dqt)
        + _segment(0xFFC0, sof)
        + _segment(0xFFC4, dht_dc)
        + _segment(0xFFC4, dht_ac)
        + _segment(0xFFDA, sos)
        + bytes(scan)
        + b"\xff\xd9"
    )
