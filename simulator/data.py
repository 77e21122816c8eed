"""The seeded generator: builds the initial organization data deterministically."""

from __future__ import annotations

import random

from simulator.config import DataConfig, OrgConfig
from simulator.factories import Factory
from simulator.ids import org_prefix
from simulator.store import Store

DAY = 86_400
# Generation order: later entities refer to earlier ones (lines to items, payments to invoices).
ORDER = (
    "locations",
    "items",
    "contacts",
    "invoices",
    "salesorders",
    "creditnotes",
    "customerpayments",
    "bills",
    "vendorpayments",
)


def entity_rng(seed: int, path: str, purpose: str = "data") -> random.Random:
    """Return an RNG private to one entity and purpose, so counts elsewhere don't shift it."""
    return random.Random(f"{seed}:{path}:{purpose}")


def generate(cfg: DataConfig, org: OrgConfig) -> Store:
    """Build every table; the same config always yields identical records."""
    store = Store(
        seed=cfg.seed,
        prefix=org_prefix(cfg.seed),
        org=org,
        shape=cfg.stock_shape,
        image_fraction=cfg.image_fraction,
        hostile_fraction=cfg.hostile_fraction,
    )
    end = cfg.history_end_epoch_s
    span = cfg.history_days * DAY
    start = end - span
    for path in ORDER:
        count = cfg.locations if path == "locations" else cfg.count(path)
        rng = entity_rng(cfg.seed, path)
        factory = Factory(store, rng)
        table = store.table(path)
        step = span / max(count, 1)
        for seq in range(count):
            # Ids grow with creation time, as Zoho's do.
            created = start + int((seq + rng.random()) * step) if path != "locations" else start
            lm = created if rng.random() < 0.6 else created + int(rng.random() * (end - created))
            table.add(factory.make(path, seq, created, lm))
    return store
