"""Stock arrays of items, the legacy warehouses view and the organization object."""

from __future__ import annotations

from typing import Any

from simulator.clock import format_date
from simulator.ids import MISC_CODE, aux_id
from simulator.store import Record, Store

Json = dict[str, Any]


def stock_arrays(store: Store, rec: Record) -> Json:
    """Return an item's per-location stock: locations[] (strings) or warehouses[] (numbers)."""
    stock = rec.stock or []
    sites = store.sites
    if store.shape == "locations":
        return {
            "locations": [
                {
                    "location_id": site.id,
                    "location_name": site.data["location_name"],
                    "status": site.data["status"],
                    "is_primary": site.data["is_primary"],
                    "location_stock_on_hand": f"{s[0]:.2f}",
                    "location_available_stock": f"{s[0] - s[1]:.2f}",
                    "location_actual_available_stock": f"{s[0] - s[2]:.2f}",
                }
                for site, s in zip(sites, stock, strict=True)
            ]
        }
    return {
        "warehouses": [
            {
                "warehouse_id": site.id,
                "warehouse_name": site.data["location_name"],
                "status": site.data["status"],
                "is_primary": site.data["is_primary"],
                "is_item_mapped": True,
                "warehouse_stock_on_hand": s[0],
                "warehouse_available_stock": s[0] - s[1],
                "warehouse_actual_available_stock": s[0] - s[2],
                "warehouse_committed_stock": s[1],
                "warehouse_actual_committed_stock": s[2],
                "warehouse_available_for_sale_stock": s[0] - s[1],
                "warehouse_actual_available_for_sale_stock": s[0] - s[2],
                "is_storage_location_enabled": False,
            }
            for site, s in zip(sites, stock, strict=True)
        ]
    }


def warehouse(site: Record) -> Json:
    """Return a location as the legacy /settings/warehouses endpoint shows it."""
    addr = site.data["address"]
    return {
        "warehouse_id": site.id,
        "warehouse_name": site.data["location_name"],
        "attention": addr["attention"],
        "address": addr["street_address1"],
        "address1": addr["street_address1"],
        "address2": addr["street_address2"],
        "city": addr["city"],
        "state": addr["state"],
        "country": addr["country"],
        "zip": addr["zip"],
        "phone": site.data["phone"],
        "email": site.data["email"],
        "is_primary": site.data["is_primary"],
        "status": site.data["status"],
    }


def organization(store: Store, created_epoch: int) -> Json:
    """Return the organization object of GET /organizations."""
    org = store.org
    return {
        "organization_id": org.organization_id,
        "name": org.name,
        "contact_name": "Simulated Admin",
        "email": "admin@example.com",
        "is_default_org": True,
        "plan_type": 12.0,
        "tax_group_enabled": True,
        "zi_migration_status": 0.0,
        "plan_name": "ELITE",
        "plan_period": "yearly",
        "language_code": "en",
        "fiscal_year_start_month": 0.0,
        "account_created_date": format_date(created_epoch, org.utc_offset_minutes),
        "account_created_date_formatted": format_date(created_epoch, org.utc_offset_minutes),
        "time_zone": org.time_zone,
        "is_org_active": True,
        "currency_id": aux_id(store.prefix, MISC_CODE, 0),
        "currency_code": org.currency_code,
        "currency_symbol": org.currency_symbol,
        "currency_format": "###,##0.00",
        "price_precision": 2.0,
        "user_role": "admin",
        "version": "global",
    }
