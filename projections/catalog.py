"""Every entity read model, by name, and which models each entity type feeds."""

from __future__ import annotations

from collections.abc import Iterable

from projections.documents import (
    BILLS,
    CREDIT_NOTES,
    CUSTOMER_PAYMENTS,
    INVOICES,
    SALES_ORDERS,
    VENDOR_PAYMENTS,
)
from projections.errors import UnknownModelError
from projections.items import CONTACTS, ITEMS, LOCATIONS, STOCK
from projections.model import ReadModel
from schemas.events import ENTITY_TYPES

MODELS: tuple[ReadModel, ...] = (
    ITEMS, STOCK, LOCATIONS, CONTACTS, SALES_ORDERS, INVOICES, CREDIT_NOTES,
    CUSTOMER_PAYMENTS, BILLS, VENDOR_PAYMENTS,
)
BY_NAME: dict[str, ReadModel] = {m.name: m for m in MODELS}


def models_for(entity_type: str) -> tuple[ReadModel, ...]:
    """The models an event of `entity_type` may change (item feeds items and stock)."""
    return tuple(m for m in MODELS if entity_type in m.entity_types)


# Each entity type's own table, the first model it feeds (item records also feed stock).
ENTITY_TABLES: dict[str, str] = {t: models_for(t)[0].table for t in ENTITY_TYPES}


def select(names: Iterable[str] | None) -> tuple[ReadModel, ...]:
    """The models named (all when None), in catalogue order; unknown names are an error."""
    if names is None:
        return MODELS
    wanted = set(names)
    unknown = sorted(wanted - set(BY_NAME))
    if unknown:
        raise UnknownModelError(
            f"no read model {', '.join(unknown)}: choose from {', '.join(BY_NAME)}")
    return tuple(m for m in MODELS if m.name in wanted)
