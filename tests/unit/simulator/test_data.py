"""The seeded generator: determinism, Zoho field formats, references, hostile strings."""

from __future__ import annotations

import re
from dataclasses import replace

import orjson

from simulator.config import DataConfig, OrgConfig
from simulator.data import generate
from simulator.entities import ENTITIES
from simulator.names import HOSTILE
from simulator.render import Renderer
from simulator.store import Store
from tests.unit.simulator.conftest import small_config

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0300$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _dump(store: Store) -> bytes:
    renderer = Renderer(store)
    out = {
        path: [renderer.full(path, rec) for rec in store.table(path).records.values()]
        for path in ENTITIES
    }
    return orjson.dumps(out)


def test_same_seed_gives_byte_identical_records() -> None:
    cfg = small_config().data
    assert _dump(generate(cfg, OrgConfig())) == _dump(generate(cfg, OrgConfig()))
    assert _dump(generate(cfg, OrgConfig())) != _dump(generate(replace(cfg, seed=8), OrgConfig()))


def test_counts_and_proportional_defaults() -> None:
    cfg = DataConfig(items=10, contacts=10, salesorders=40, invoices=40)
    assert [
        cfg.count(p) for p in ("customerpayments", "creditnotes", "bills", "vendorpayments")
    ] == [
        20,
        4,
        10,
        5,
    ]
    store = generate(cfg, OrgConfig())
    assert len(store.table("vendorpayments").records) == 5
    assert len(store.sites) == 5


def test_ids_timestamps_and_dates_have_zoho_formats() -> None:
    store = generate(small_config().data, OrgConfig())
    renderer = Renderer(store)
    for path, spec in ENTITIES.items():
        for rec in store.table(path).records.values():
            full = renderer.full(path, rec)
            assert full[spec.id_field] == rec.id
            assert rec.id.isdigit() and 16 <= len(rec.id) <= 19
            assert TS.match(full["created_time"]) and TS.match(full["last_modified_time"])
            assert rec.created <= rec.lm
            for key in ("date", "due_date", "shipment_date"):
                if key in full:
                    assert DATE.match(full[key])
            for line in full.get("line_items", []):
                assert 16 <= len(line["line_item_id"]) <= 19
                assert line["item_id"] in store.table("items").records


def test_money_types_vary_like_zoho() -> None:
    store = generate(small_config().data, OrgConfig())
    invoices = list(store.table("invoices").records.values())
    kinds = {type(r.data["total"]) for r in invoices}
    assert kinds == {str, float}  # some invoices carry total and balance as strings
    for r in invoices:
        assert type(r.data["total"]) is type(r.data["balance"])
        assert float(r.data["balance"]) <= float(r.data["total"])
    payments = store.table("customerpayments").records.values()
    assert all(isinstance(p.data["bcy_amount"], str) for p in payments)
    assert any(r.data["reference_number"] == "" for r in invoices)  # empty optional strings


def test_images_on_about_thirty_percent_of_items() -> None:
    cfg = replace(
        small_config().data,
        items=1000,
        salesorders=0,
        invoices=0,
        bills=0,
        creditnotes=0,
        customerpayments=0,
        vendorpayments=0,
    )
    store = generate(cfg, OrgConfig())
    items = list(store.table("items").records.values())
    with_image = [r for r in items if r.data["image_id"]]
    assert 0.25 < len(with_image) / len(items) < 0.35
    for rec in with_image:
        data = rec.data
        assert len(data["image_id"]) == 19 and data["image_document_id"] == data["image_id"]
        assert data["image_name"].endswith("." + data["image_type"])


def test_hostile_strings_appear_in_a_small_fraction() -> None:
    cfg = replace(
        small_config().data,
        items=2000,
        contacts=500,
        salesorders=0,
        invoices=0,
        bills=0,
        creditnotes=0,
        customerpayments=0,
        vendorpayments=0,
    )
    store = generate(cfg, OrgConfig())
    names = [r.data["name"] for r in store.table("items").records.values()]
    names += [r.data["contact_name"] for r in store.table("contacts").records.values()]
    hostile = [n for n in names if any(n.startswith(h) for h in HOSTILE)]
    assert 5 <= len(hostile) <= 0.03 * len(names)
    joined = " ".join(hostile)
    assert "<script>" in joined or "DROP TABLE" in joined or "'" in joined


def test_ids_grow_with_creation_time_and_history_ends_at_the_anchor() -> None:
    store = generate(small_config().data, OrgConfig())
    for path in ENTITIES:
        created = [r.created for r in store.table(path).records.values()]
        assert created == sorted(created)
    end = small_config().data.history_end_epoch_s
    assert max(r.lm for t in store.tables.values() for r in t.records.values()) <= end
