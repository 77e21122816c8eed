"""Items and item stock; `locations[]` and legacy `warehouses[]` become one stock model."""

from __future__ import annotations

from operator import itemgetter

from streams.entities.plan import (
    CONSTANT,
    CUSTOM,
    DECIMAL,
    REQUIRED_TEXT,
    TEXT,
    TIME,
    Record,
    compile_plan,
    rows,
)
from streams.fields import Fields

# Zoho's two stock shapes (facts §6): the same numbers under location_* or warehouse_*.
# Per shape: the array and the plan of one row, each output field read from its
# preferred key, then the other shape's.
_SHAPES = tuple(
    (array, compile_plan("stock_level", (
        ("location_id", REQUIRED_TEXT, prefix + "id", other + "id"),
        ("location_name", TEXT, prefix + "name", other + "name"),
        ("location_kind", CONSTANT, kind),
        *((field, DECIMAL, prefix + field, other + field)
          for field in ("stock_on_hand", "available_stock", "actual_available_stock",
                        "committed_stock")))))
    for array, kind, prefix, other in (("locations", "location", "location_", "warehouse_"),
                                       ("warehouses", "warehouse", "warehouse_", "location_")))


def stock_levels(fields: Fields) -> list[Record]:
    """Per-location stock, from `locations[]` (preferred) or `warehouses[]`, by location id."""
    for array, row in _SHAPES:
        levels = rows(fields, array, row)
        if levels:
            levels.sort(key=itemgetter("location_id"))
            return levels
    return []


item = compile_plan("item", (
    ("item_id", REQUIRED_TEXT, "item_id"),
    ("name", REQUIRED_TEXT, "name", "item_name"),
    ("sku", TEXT, "sku"),
    ("status", TEXT, "status"),
    ("item_type", TEXT, "item_type"),
    ("product_type", TEXT, "product_type"),
    ("unit", TEXT, "unit"),
    ("description", TEXT, "description"),
    ("rate", DECIMAL, "rate"),
    ("purchase_rate", DECIMAL, "purchase_rate"),
    ("stock_on_hand", DECIMAL, "stock_on_hand"),
    ("available_stock", DECIMAL, "available_stock"),
    ("actual_available_stock", DECIMAL, "actual_available_stock"),
    ("reorder_level", DECIMAL, "reorder_level"),
    ("image_id", TEXT, "image_id", "image_document_id"),
    ("image_name", TEXT, "image_name"),
    ("image_type", TEXT, "image_type"),
    ("stock", CUSTOM, stock_levels),
    ("created_at", TIME, "created_time"),
    ("modified_at", TIME, "last_modified_time"),
))
"""An item record (`tds.Item`)."""

stock = compile_plan("stock", (
    ("item_id", REQUIRED_TEXT, "item_id"),
    ("sku", TEXT, "sku"),
    ("stock_on_hand", DECIMAL, "stock_on_hand"),
    ("available_stock", DECIMAL, "available_stock"),
    ("actual_available_stock", DECIMAL, "actual_available_stock"),
    ("levels", CUSTOM, stock_levels),
    ("created_at", TIME, "created_time"),
    ("modified_at", TIME, "last_modified_time"),
))
"""An item's stock snapshot from the stock sync (`tds.ItemStock`)."""
