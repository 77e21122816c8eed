"""Locations and legacy warehouses (`tds.Location`, kind location | warehouse)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.fields import Fields


def location(record: Mapping[str, Any]) -> dict[str, Any]:
    """A `/locations` record, or a `/settings/warehouses` one (kind `warehouse`)."""
    f = Fields(record, "location")
    legacy = not record.get("location_id") and bool(record.get("warehouse_id"))
    prefix = "warehouse_" if legacy else "location_"
    return {
        "location_id": f.required_text(prefix + "id"),
        "location_name": f.required_text(prefix + "name"),
        "kind": "warehouse" if legacy else "location",
        "location_type": f.text("type", "location_type"),
        "parent_location_id": f.text("parent_location_id"),
        "is_primary": f.boolean("is_primary"),
        "status": f.text("status"),
        "created_at": f.time("created_time"),
        "modified_at": f.time("last_modified_time"),
    }
