"""Items and item stock; `locations[]` and legacy `warehouses[]` become one stock model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.fields import Fields

Record = dict[str, Any]

# Zoho's two stock shapes (facts §6): the same numbers under location_* or warehouse_*.
# Per shape: the array, the kind, and each output field's (preferred, fallback) keys.
_LEVEL_FIELDS = ("id", "name", "stock_on_hand", "available_stock", "actual_available_stock",
                 "committed_stock")
_SHAPES = tuple(
    (array, kind, {field: (prefix + field, other + field) for field in _LEVEL_FIELDS})
    for array, kind, prefix, other in (("locations", "location", "location_", "warehouse_"),
                                       ("warehouses", "warehouse", "warehouse_", "location_")))


def stock_levels(fields: Fields) -> list[Record]:
    """Per-location stock, from `locations[]` (preferred) or `warehouses[]`, by location id."""
    for array, kind, keys in _SHAPES:
        rows = fields.rows(array)
        if not rows:
            continue
        levels: list[Record] = []
        for row in rows:
            level = Fields(row, fields.entity_type)
            levels.append({
                "location_id": level.required_text(*keys["id"]),
                "location_name": level.text(*keys["name"]),
                "location_kind": kind,
                "stock_on_hand": level.decimal(*keys["stock_on_hand"]),
                "available_stock": level.decimal(*keys["available_stock"]),
                "actual_available_stock": level.decimal(*keys["actual_available_stock"]),
                "committed_stock": level.decimal(*keys["committed_stock"]),
            })
        levels.sort(key=lambda level: level["location_id"])
        return levels
    return []


def item(record: Mapping[str, Any]) -> Record:
    """An item record (`tds.Item`)."""
    f = Fields(record, "item")
    return {
        "item_id": f.required_text("item_id"),
        "name": f.required_text("name", "item_name"),
        "sku": f.text("sku"),
        "status": f.text("status"),
        "item_type": f.text("item_type"),
        "product_type": f.text("product_type"),
        "unit": f.text("unit"),
        "description": f.text("description"),
        "rate": f.decimal("rate"),
        "purchase_rate": f.decimal("purchase_rate"),
        "stock_on_hand": f.decimal("stock_on_hand"),
        "available_stock": f.decimal("available_stock"),
        "actual_available_stock": f.decimal("actual_available_stock"),
        "reorder_level": f.decimal("reorder_level"),
        "image_id": f.text("image_id", "image_document_id"),
        "image_name": f.text("image_name"),
        "image_type": f.text("image_type"),
        "stock": stock_levels(f),
        "created_at": f.time("created_time"),
        "modified_at": f.time("last_modified_time"),
    }


def stock(record: Mapping[str, Any]) -> Record:
    """An item's stock snapshot from the stock sync (`tds.ItemStock`)."""
    f = Fields(record, "stock")
    return {
        "item_id": f.required_text("item_id"),
        "sku": f.text("sku"),
        "stock_on_hand": f.decimal("stock_on_hand"),
        "available_stock": f.decimal("available_stock"),
        "actual_available_stock": f.decimal("actual_available_stock"),
        "levels": stock_levels(f),
        "created_at": f.time("created_time"),
        "modified_at": f.time("last_modified_time"),
    }
