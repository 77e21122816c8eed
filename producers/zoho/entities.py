"""The entity table: where each canonical entity type lives in Zoho's API and how it pages."""

from __future__ import annotations

from dataclasses import dataclass

from producers.zoho.errors import ZohoError


@dataclass(frozen=True, slots=True)
class EntityDef:
    """How one canonical entity type is listed and fetched."""

    entity_type: str  # canonical TDS name, e.g. "customerpayment"
    product: str  # "books" or "inventory"
    path: str  # list path, e.g. "/customerpayments"
    list_key: str  # envelope key of a list response
    single_key: str  # envelope key of a GET response
    id_field: str
    # Zoho accepts `last_modified_time=` and `sort_column=last_modified_time` on this list,
    # so it can be pulled incrementally and in modification order (keyset paging).
    by_modified: bool = True
    # A list returns only a few rows with no paging worth the name (locations).
    small: bool = False
    # The filter that lists every record (Zoho's default view may hide inactive ones).
    all_filter: str | None = "Status.All"


ENTITY_DEFS: dict[str, EntityDef] = {
    d.entity_type: d
    for d in (
        EntityDef("item", "inventory", "/items", "items", "item", "item_id"),
        EntityDef("contact", "books", "/contacts", "contacts", "contact", "contact_id"),
        EntityDef("salesorder", "inventory", "/salesorders", "salesorders", "salesorder",
                  "salesorder_id"),
        EntityDef("invoice", "books", "/invoices", "invoices", "invoice", "invoice_id"),
        # The one irregular pair: list key `customerpayments`, single key `payment`.
        EntityDef("customerpayment", "books", "/customerpayments", "customerpayments",
                  "payment", "payment_id", all_filter="PaymentMode.All"),
        EntityDef("creditnote", "books", "/creditnotes", "creditnotes", "creditnote",
                  "creditnote_id"),
        EntityDef("bill", "books", "/bills", "bills", "bill", "bill_id"),
        EntityDef("vendorpayment", "books", "/vendorpayments", "vendorpayments",
                  "vendorpayment", "payment_id", all_filter="PaymentMode.All"),
        EntityDef("location", "inventory", "/locations", "locations", "location",
                  "location_id", by_modified=False, small=True, all_filter=None),
    )
}

# Orgs not migrated to Locations list their warehouses here instead (ZOHO_API_FACTS §6).
LEGACY_WAREHOUSES = EntityDef("location", "inventory", "/settings/warehouses", "warehouses",
                              "warehouse", "warehouse_id", by_modified=False, small=True,
                              all_filter=None)

ENTITY_TYPES: tuple[str, ...] = tuple(ENTITY_DEFS)
# Types the reconcile and full sync pull by default (locations change rarely but are cheap).
SYNC_TYPES: tuple[str, ...] = ENTITY_TYPES


def entity_def(entity_type: str) -> EntityDef:
    """The definition of `entity_type`, or a ZohoError naming the known types."""
    try:
        return ENTITY_DEFS[entity_type]
    except KeyError:
        raise ZohoError(
            f"unknown entity type {entity_type!r}; known: {', '.join(ENTITY_TYPES)}"
        ) from None


# Names the guide and the admin API use for entity types, mapped to the canonical ones.
ALIASES: dict[str, str] = {
    "product": "item", "products": "item", "items": "item",
    "customer": "contact", "customers": "contact", "vendor": "contact", "vendors": "contact",
    "contacts": "contact",
    "order": "salesorder", "orders": "salesorder", "sales_order": "salesorder",
    "sales_orders": "salesorder", "salesorders": "salesorder",
    "invoices": "invoice",
    "payment": "customerpayment", "payments": "customerpayment",
    "customer_payment": "customerpayment", "customer_payments": "customerpayment",
    "customerpayments": "customerpayment",
    "credit_note": "creditnote", "credit_notes": "creditnote", "creditnotes": "creditnote",
    "bills": "bill",
    "vendor_payment": "vendorpayment", "vendor_payments": "vendorpayment",
    "vendorpayments": "vendorpayment",
    "locations": "location", "warehouse": "location", "warehouses": "location",
}


def canonical(name: str) -> str:
    """The canonical entity type of `name` (e.g. "products" → "item"), or a ZohoError."""
    key = name.strip().lower().replace("-", "_")
    if key.startswith("entitytype."):  # the guide's EntityType.PRODUCT
        key = key.split(".", 1)[1]
    return entity_def(ALIASES.get(key, key)).entity_type
