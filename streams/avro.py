"""A compiled Avro binary writer for the events the worker emits.

fastavro picks each union branch by validating the value against every branch, and
converts every decimal in Python: ~80 µs for an item with per-location stock, the
biggest single cost of an event. Our records are dicts shaped by the schema, so a
writer compiled once from the schema (closures per field; `["null", T]` unions decided
by `is None`, record unions by the `(name, value)` notation `EntitySynced.to_avro` uses)
does the same in a fraction (records are generated as straight-line Python source).
The bytes are identical to fastavro's (a property test
compares them), and readers keep decoding with fastavro through `schemas.codec`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from schemas.codec import MARKER, Codec

Writer = Callable[[Any, bytearray], None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


def write_long(n: int, out: bytearray) -> None:
    """Zig-zag varint (Avro int and long)."""
    n = (n << 1) ^ (n >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _string(value: str, out: bytearray) -> None:
    data = value.encode()
    size = len(data)
    if size < 64:
        out.append(size << 1)  # the zig-zag varint of a small length is one byte
    elif size < 8192:  # two bytes (a hash, a record's JSON): no call
        out.append(((size << 1) & 0x7F) | 0x80)
        out.append(size >> 6)
    else:
        write_long(size, out)
    out += data


def _bytes(value: bytes, out: bytearray) -> None:
    write_long(len(value), out)
    out += value


def _boolean(value: bool, out: bytearray) -> None:
    out.append(1 if value else 0)


def _null(value: None, out: bytearray) -> None:
    if value is not None:
        raise ValueError(f"{value!r} is not null")


def _double(value: float, out: bytearray) -> None:
    out += _DOUBLE.pack(value)


def _float(value: float, out: bytearray) -> None:
    out += _FLOAT.pack(value)


def _timestamp_micros(value: datetime | int, out: bytearray) -> None:
    if isinstance(value, datetime):
        delta = value - _EPOCH if value.tzinfo else value.replace(tzinfo=UTC) - _EPOCH
        value = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    write_long(value, out)


def _date(value: date | int, out: bytearray) -> None:
    write_long(value.toordinal() - _EPOCH_DAY if isinstance(value, date) else value, out)


def _decimal(scale: int) -> Writer:
    factor = 10**scale

    def write(value: Decimal | bytes, out: bytearray) -> None:
        if isinstance(value, bytes):
            _bytes(value, out)
            return
        numerator, denominator = value.as_integer_ratio()  # exact, and faster than scaleb
        unscaled, rest = divmod(numerator * factor, denominator)
        if rest:
            raise ValueError(f"{value!r} has more than {scale} decimal places")
        # fastavro's length: magnitude bits + a sign bit, rounded up to whole bytes
        size = (abs(unscaled).bit_length() + 8) // 8
        if size < 64:
            out.append(size << 1)  # the zig-zag varint of a small length is one byte
        else:
            write_long(size, out)
        out += unscaled.to_bytes(size, "big", signed=True)

    return write


_PRIMITIVES: dict[str, Writer] = {
    "null": _null, "boolean": _boolean, "int": write_long, "long": write_long,
    "string": _string, "bytes": _bytes, "double": _double, "float": _float,
}


def compile_writer(schema: Any, named: dict[str, Writer] | None = None) -> Writer:
    """A writer for values of a parsed (fastavro) schema."""
    named = {} if named is None else named
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        return lambda value, out: named[schema](value, out)  # a named type, maybe recursive
    if isinstance(schema, list):
        return _union(schema, named)
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical == "decimal" and kind == "bytes":
        return _decimal(schema.get("scale", 0))
    if logical == "timestamp-micros" and kind == "long":
        return _timestamp_micros
    if logical == "date" and kind == "int":
        return _date
    if kind == "record":
        return _record(schema, named)
    if kind == "array":
        item = compile_writer(schema["items"], named)

        def write_array(values: list[Any], out: bytearray) -> None:
            if values:
                count = len(values)
                if count < 64:
                    out.append(count << 1)
                else:
                    write_long(count, out)
                for value in values:
                    item(value, out)
            out.append(0)

        return write_array
    if kind == "map":
        value_writer = compile_writer(schema["values"], named)

        def write_map(values: Mapping[str, Any], out: bytearray) -> None:
            if values:
                write_long(len(values), out)
                for key, value in values.items():
                    _string(key, out)
                    value_writer(value, out)
            out.append(0)

        return write_map
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise ValueError(f"unsupported schema type {kind!r}")


_MISSING = object()


def _record(schema: Mapping[str, Any], named: dict[str, Writer]) -> Writer:
    """A record writer generated as Python source: one straight-line function per record
    with strings, optional strings, longs and booleans written inline. Closures per field
    cost a call and a loop step each, ~40% of the encoding of a typical event."""
    name = schema["name"]
    compiled: list[Writer] = []
    # Later fields may refer to this record (recursion): they call through this until the
    # generated function exists.
    named[name] = lambda value, out: compiled[0](value, out)
    env: dict[str, Any] = {"_MISSING": _MISSING, "write_long": write_long,
                           "ValueError": ValueError, "datetime": datetime, "UTC": UTC,
                           "EPOCH": _EPOCH, "Decimal": Decimal}
    # Every field is subscripted first (our records have them all); when one is missing,
    # the KeyError undoes the partial output and the record is written again field by
    # field with defaults and checks. `get` with a sentinel costs ~3% of an event.
    fast = ["def write(value, out):", "    start = len(out)", "    try:"]
    lines = ["    del out[start:]", "    get = value.get"]
    for index, field in enumerate(schema["fields"]):
        field_name = field["name"]
        statements = _inline(field["type"], index, env, named)
        fast.append(f"        x = value[{field_name!r}]")
        fast += ["    " + line for line in statements]
        lines.append(f"    x = get({field_name!r}, _MISSING)")
        lines.append("    if x is _MISSING:")
        if "default" in field:
            env[f"d{index}"] = field["default"]
            lines.append(f"        x = d{index}")
        else:
            message = f"{name} needs field {field_name!r}"
            lines.append(f"        raise ValueError({message!r})")
        lines += statements
    lines = [*fast, "        return", "    except KeyError:", "        pass", *lines]
    exec("\n".join(lines), env)  # noqa: S102  # source built above from the schema only
    write: Writer = env["write"]
    compiled.append(write)
    named[name] = write
    return write


_STRING = ["b = x.encode()", "n = len(b)", "if n < 64:", "    out.append(n << 1)",
           "elif n < 8192:", "    out.append(((n << 1) & 0x7F) | 0x80)", "    out.append(n >> 6)",
           "else:", "    write_long(n, out)", "out += b"]
_TIMESTAMP = ["if isinstance(x, datetime):",
              "    d = x - EPOCH if x.tzinfo else x.replace(tzinfo=UTC) - EPOCH",
              "    x = (d.days * 86400 + d.seconds) * 1000000 + d.microseconds",
              "write_long(x, out)"]


def _decimal_lines(scale: int) -> list[str]:
    # `_decimal`'s writer, inline (a call saved per decimal, of which an event has many).
    # (the class test first: a Decimal is the common case, and skips isinstance's call)
    return ["if x.__class__ is not Decimal and isinstance(x, bytes):",
            "    write_long(len(x), out)", "    out += x", "else:",
            "    num, den = x.as_integer_ratio()",
            f"    u, r = divmod(num * {10**scale}, den)",
            "    if r:",
            f"        raise ValueError(f'{{x!r}} has more than {scale} decimal places')",
            "    size = (abs(u).bit_length() + 8) // 8",
            "    if size < 64:", "        out.append(size << 1)", "    else:",
            "        write_long(size, out)",
            "    out += u.to_bytes(size, 'big', signed=True)"]


def _plain(kind: Any) -> list[str] | None:
    """Inline statements for `kind`, when it is one we inline."""
    if kind == "string":
        return _STRING
    if kind in ("long", "int"):
        return ["if 0 <= x < 64:", "    out.append(x << 1)", "else:", "    write_long(x, out)"]
    if kind == "boolean":
        return ["out.append(1 if x else 0)"]
    if isinstance(kind, dict):
        logical, base = kind.get("logicalType"), kind.get("type")
        if logical == "decimal" and base == "bytes":
            return _decimal_lines(int(kind.get("scale", 0)))
        if logical == "timestamp-micros" and base == "long":
            return _TIMESTAMP
    return None


def _inline(kind: Any, index: int, env: dict[str, Any], named: dict[str, Writer]) -> list[str]:
    """Statements (indented for the function body) writing the field value `x`."""
    lines = _plain(kind)
    if lines is None and isinstance(kind, list) and len(kind) == 2 and kind[0] == "null":
        body = _plain(kind[1])
        if body is None:
            env[f"w{index}"] = compile_writer(kind[1], named)
            body = [f"w{index}(x, out)"]
        lines = ["if x is None:", "    out.append(0)", "else:", "    out.append(2)",
                 *("    " + line for line in body)]
    if lines is None and isinstance(kind, dict) and kind.get("type") == "array":
        # The loop inline: a closure call saved per array (documents and items have one).
        env[f"w{index}"] = compile_writer(kind["items"], named)
        lines = ["if x:", "    n = len(x)", "    if n < 64:", "        out.append(n << 1)",
                 "    else:", "        write_long(n, out)", "    for item in x:",
                 f"        w{index}(item, out)", "out.append(0)"]
    if lines is None and isinstance(kind, list):
        # A union written with the `(name, value)` notation: the branch looked up by name
        # inline; anything else (or an error) goes through the generic writer.
        writers, names = _branches(kind, named)
        env[f"w{index}"] = _union(kind, named, writers, names)
        env[f"t{index}"] = {name: (branch << 1, writers[branch])
                            for name, branch in names.items() if branch < 64}
        lines = [f"if x.__class__ is tuple and len(x) == 2 and x[0] in t{index}:",
                 f"    tag, w = t{index}[x[0]]", "    out.append(tag)", "    w(x[1], out)",
                 "else:", f"    w{index}(x, out)"]
    if lines is None:
        env[f"w{index}"] = compile_writer(kind, named)
        lines = [f"w{index}(x, out)"]
    return ["    " + line for line in lines]


def _branches(branches: list[Any], named: dict[str, Writer]
              ) -> tuple[list[Writer], dict[str, int]]:
    """The writer of each union branch, and each branch's index by name."""
    writers = [compile_writer(branch, named) for branch in branches]
    return writers, {_name(branch): index for index, branch in enumerate(branches)}


def _union(branches: list[Any], named: dict[str, Writer],
           writers: list[Writer] | None = None, names: dict[str, int] | None = None
           ) -> Writer:
    if writers is None or names is None:
        writers, names = _branches(branches, named)
    if len(branches) == 2 and branches[0] == "null":
        other = writers[1]

        def write_optional(value: Any, out: bytearray) -> None:
            if value is None:
                out.append(0)
            else:
                out.append(2)  # zig-zag 1
                other(value, out)

        return write_optional

    def write_union(value: Any, out: bytearray) -> None:
        if value is None and "null" in names:
            index = names["null"]
        elif isinstance(value, tuple) and len(value) == 2 and value[0] in names:
            index, value = names[value[0]], value[1]
        else:
            raise ValueError("a union of records needs the (name, value) notation")
        if index < 64:
            out.append(index << 1)  # the zig-zag varint of a small index is one byte
        else:
            write_long(index, out)
        writers[index](value, out)

    return write_union


def _name(branch: Any) -> str:
    if isinstance(branch, str):
        return branch
    if isinstance(branch, dict):
        return str(branch.get("name") or branch["type"])
    return ""


class FastEncoder:
    """Single-object encoding of one schema family with the compiled writer."""

    def __init__(self, codec: Codec, family: str) -> None:
        latest = codec.latest(family)
        self._prefix = MARKER + latest.fingerprint
        self._write = compile_writer(latest.schema)

    def encode(self, value: Mapping[str, Any]) -> bytes:
        """Marker, fingerprint and body of `value`."""
        out = bytearray(self._prefix)
        self._write(value, out)
        return bytes(out)
