"""Normalisers compiled from field plans: one straight-line function per record type.

An entity's fields are declared once as a plan, `(output, kind, source, *fallbacks)` per
field (`CUSTOM` takes a function of the record's `Fields` instead of a source). The
compiled function reads them in plan order with the common case of each kind inline (a
non-empty string for text; a float or a plain numeric string for a decimal) and every
other value through `streams.fields.Fields`, so results and errors are those of the
`Fields` reads. A `Fields` method call per field was ~10% of normalising an event, and
numeric strings taking the checked path of `to_decimal` another ~10%.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from streams.fields import Fields, plain_decimal

Record = dict[str, Any]
Normaliser = Callable[..., Record]  # (record[, entity_type]) → record

TEXT = "text"
REQUIRED_TEXT = "required_text"
DECIMAL = "decimal"
REQUIRED_DECIMAL = "required_decimal"
TIME = "time"
DATE = "date"
INTEGER = "integer"
BOOLEAN = "boolean"
CONSTANT = "constant"  # (output, CONSTANT, value)
CUSTOM = "custom"  # (output, CUSTOM, function of the record's Fields)

# Created and modified times of most records (Zoho's `updated_time` on older payloads).
STAMPS: tuple[tuple[str, ...], ...] = (
    ("created_at", TIME, "created_time"),
    ("modified_at", TIME, "last_modified_time", "updated_time"),
)

# The inline common case of a kind (`x` is the source's value), else the `Fields` read.
_FAST = {
    TEXT: "x.__class__ is str and x",
    REQUIRED_TEXT: "x.__class__ is str and x",
    # Fields.decimal's own fast path: finite and well inside decimal(28, 6)
    DECIMAL: "x.__class__ is float and -1e21 < x < 1e21",
    REQUIRED_DECIMAL: "x.__class__ is float and -1e21 < x < 1e21",
}
_CONVERT = {DECIMAL: "Decimal(repr(x)).quantize(SCALE)",
            REQUIRED_DECIMAL: "Decimal(repr(x)).quantize(SCALE)"}
_SOURCED = {TEXT, REQUIRED_TEXT, DECIMAL, REQUIRED_DECIMAL, TIME, DATE, INTEGER, BOOLEAN}
_SINGLE = {DATE, INTEGER, BOOLEAN, REQUIRED_DECIMAL}  # Fields reads that take no fallbacks


def compile_plan(entity_type: str, plan: tuple[tuple[Any, ...], ...]) -> Normaliser:
    """A function `(record, entity_type=entity_type) → dict` reading `plan`'s fields."""
    env: dict[str, Any] = {"Fields": Fields, "Decimal": Decimal, "plain_decimal": plain_decimal,
                           "SCALE": Decimal("0.000001"), "ENTITY": entity_type}
    lines = ["def normalise(record, entity_type=ENTITY):",
             "    f = Fields(record, entity_type)", "    get = record.get"]
    outputs = []
    for index, (output, kind, *args) in enumerate(plan):
        value = f"v{index}"
        outputs.append(f"{output!r}: {value}")
        if kind == CONSTANT:
            env[value] = args[0]
            continue
        if kind == CUSTOM:
            env[f"c{index}"] = args[0]
            lines.append(f"    {value} = c{index}(f)")
            continue
        if kind not in _SOURCED or not args or (kind in _SINGLE and len(args) > 1):
            raise ValueError(f"{entity_type}.{output}: bad plan entry {(output, kind, *args)!r}")
        read = f"f.{kind}({', '.join(repr(name) for name in args)})"
        if kind not in _FAST:
            lines.append(f"    {value} = {read}")
            continue
        lines += [f"    x = get({args[0]!r})", f"    if {_FAST[kind]}:",
                  f"        {value} = {_CONVERT.get(kind, 'x')}"]
        if kind in _CONVERT:  # a decimal as a numeric string (Zoho sends both)
            lines += ["    elif x.__class__ is str and (d := plain_decimal(x)) is not None:",
                      f"        {value} = d"]
        lines += ["    else:", f"        {value} = {read}"]
    lines.append(f"    return {{{', '.join(outputs)}}}")
    exec("\n".join(lines), env)  # noqa: S102  # source built above from the plan only
    normalise: Normaliser = env["normalise"]
    normalise.__qualname__ = normalise.__name__ = f"normalise_{entity_type}"
    return normalise


def rows(fields: Fields, array: str, normalise: Normaliser) -> list[Record]:
    """`fields`' list of objects `array`, each normalised by a compiled row plan."""
    entity_type = fields.entity_type
    return [normalise(row, entity_type) for row in fields.rows(array)]
