"""Stock shapes: locations[] with string quantities, or legacy warehouses[] with numbers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from simulator.config import StockShape
from tests.unit.simulator.conftest import SimFactory, small_config


@pytest.mark.parametrize("shape", ["locations", "warehouses"])
async def test_stock_arrays_sum_to_item_totals(sim_factory: SimFactory, shape: StockShape) -> None:
    cfg = small_config()
    sim = await sim_factory(replace(cfg, data=replace(cfg.data, stock_shape=shape)))
    other = "warehouses" if shape == "locations" else "locations"
    prefix = "location" if shape == "locations" else "warehouse"
    _, listing, _ = await sim.call("/items")
    assert all(shape not in r and other not in r for r in listing["items"])
    ids = [r["item_id"] for r in listing["items"]]
    await sim.control(
        "changes", {"apply": [{"entity": "items", "action": "stock", "id": i} for i in ids[:20]]}
    )
    for start in range(0, len(ids), 50):
        _, body, _ = await sim.call("/itemdetails", {"item_ids": ",".join(ids[start : start + 50])})
        for item in body["items"]:
            rows = item[shape]
            assert other not in item
            assert len(rows) == 3 and sum(r["is_primary"] for r in rows) == 1
            for key in ("stock_on_hand", "available_stock", "actual_available_stock"):
                values = [r[f"{prefix}_{key}"] for r in rows]
                if shape == "locations":
                    assert all(isinstance(v, str) for v in values)
                else:
                    assert all(isinstance(v, float) for v in values)
                assert isinstance(item[key], float)
                assert sum(float(v) for v in values) == pytest.approx(item[key])
            assert {r[f"{prefix}_id"] for r in rows} == {s.id for s in sim.state.store.sites}


@pytest.mark.parametrize("shape", ["locations", "warehouses"])
async def test_transactions_reference_locations_or_warehouses(
    sim_factory: SimFactory, shape: StockShape
) -> None:
    cfg = small_config()
    sim = await sim_factory(replace(cfg, data=replace(cfg.data, stock_shape=shape)))
    site_ids = {s.id for s in sim.state.store.sites}
    _, listing, _ = await sim.call("/salesorders", {"per_page": "3"})
    for row in listing["salesorders"]:
        _, body, _ = await sim.call(f"/salesorders/{row['salesorder_id']}")
        order = body["salesorder"]
        for line in order["line_items"]:
            key = "location_id" if shape == "locations" else "warehouse_id"
            assert line[key] in site_ids
        if shape == "locations":
            assert order["location_id"] in site_ids
        else:
            assert "location_id" not in order
