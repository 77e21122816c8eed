"""Read models of the catalogue: items, item stock with per-location levels, locations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.model import Child, ReadModel, columns
from schemas.events import EntitySynced

ITEMS = ReadModel(
    name="items",
    table="items",
    id_column="item_id",
    entity_types=("item",),
    columns=columns(
        "name, sku, status, item_type, product_type, unit, description, rate:numeric, "
        "purchase_rate:numeric, stock_on_hand:numeric, available_stock:numeric, "
        "actual_available_stock:numeric, reorder_level:numeric, image_id, image_name, "
        "image_type, created_at:timestamptz, modified_at:timestamptz"),
)


def _stock_view(event: EntitySynced) -> Mapping[str, Any]:
    """An item record's stock fields under the names of an ItemStock record."""
    record = event.record or {}
    if event.entity_type == "stock":
        return {**record, "from_entity": "stock"}
    return {
        "sku": record.get("sku"),
        "stock_on_hand": record.get("stock_on_hand"),
        "available_stock": record.get("available_stock"),
        "actual_available_stock": record.get("actual_available_stock"),
        "from_entity": "item",
        "created_at": record.get("created_at"),
        "modified_at": record.get("modified_at"),
        "levels": record.get("stock") or (),
    }


def _carries_stock(event: EntitySynced) -> bool:
    """Stock syncs always do; an item upsert only when Zoho sent its per-location stock."""
    if event.entity_type == "stock" or event.op == "delete":
        return True
    return bool((event.record or {}).get("stock"))


# Stock arrives both from the stock sync (`stock`, id = item id) and inside item records;
# both carry a version, so the newer snapshot replaces the item's totals and all its levels.
STOCK = ReadModel(
    name="stock",
    table="item_stock",
    id_column="item_id",
    entity_types=("item", "stock"),
    columns=columns(
        "sku, stock_on_hand:numeric, available_stock:numeric, actual_available_stock:numeric, "
        "from_entity, created_at:timestamptz, modified_at:timestamptz"),
    children=(
        Child(
            table="stock_levels",
            field="levels",
            columns=columns(
                "location_id, location_name, location_kind, stock_on_hand:numeric, "
                "available_stock:numeric, actual_available_stock:numeric, "
                "committed_stock:numeric"),
            numbered=False,
            versioned=True,
        ),
    ),
    view=_stock_view,
    accepts=_carries_stock,
)

LOCATIONS = ReadModel(
    name="locations",
    table="locations",
    id_column="location_id",
    entity_types=("location",),
    columns=columns(
        "location_name, kind, location_type, parent_location_id, is_primary:boolean, status, "
        "created_at:timestamptz, modified_at:timestamptz"),
)

CONTACTS = ReadModel(
    name="contacts",
    table="contacts",
    id_column="contact_id",
    entity_types=("contact",),
    columns=columns(
        "contact_name, company_name, contact_type, status, email, phone, mobile, "
        "currency_code, payment_terms:integer, outstanding_receivable_amount:numeric, "
        "outstanding_payable_amount:numeric, created_at:timestamptz, modified_at:timestamptz"),
)
