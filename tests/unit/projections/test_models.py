"""Read-model definitions, the generated SQL and the row mapping (no I/O)."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bench.projector.events import event
from consumers.replay import Progress
from projections.catalog import BY_NAME, ENTITY_TABLES, MODELS, models_for, select
from projections.errors import UnknownModelError
from projections.items import STOCK
from projections.model import version
from projections.sql import statements
from schemas.events import ENTITY_TYPES, synced_version

AT = datetime(2025, 2, 1, tzinfo=UTC)


def test_every_entity_type_feeds_a_model() -> None:
    assert {t for m in MODELS for t in m.entity_types} == set(ENTITY_TYPES)
    assert [m.name for m in models_for("item")] == ["items", "stock"]
    assert [m.name for m in select(["stock", "items"])] == ["items", "stock"]
    with pytest.raises(UnknownModelError, match="no read model nope"):
        select(["nope"])


def test_statements_follow_the_version_rule_and_the_table_names() -> None:
    sql = statements(BY_NAME["invoices"], names={"invoices": "invoices__rebuild"}, audit=False)
    assert 'INSERT INTO "invoices__rebuild"' in sql.upsert
    assert "(t.version_modified_at, t.version_offset, t.event_id) < (EXCLUDED" in sql.upsert
    assert '"invoices_tombstones"' in sql.upsert and "audit_log" not in sql.upsert
    assert 'INSERT INTO "invoice_lines"' in sql.children[0]
    with_audit = statements(BY_NAME["invoices"])
    assert "INSERT INTO audit_log" in with_audit.upsert and "'delete'" in with_audit.delete
    assert with_audit.stage_columns[-1] == "op_"


def test_rows_follow_the_column_order() -> None:
    item = event("item", "7", at=AT, offset=3)
    row = BY_NAME["items"].row(item)
    assert row[:3] == (item.org_id, "7", "Item 7")
    assert len(row) == len(BY_NAME["items"].column_names)
    assert row[-1] == item.synced_at


def test_stock_comes_from_stock_syncs_and_from_items_that_carry_it() -> None:
    stock = event("stock", "7", at=AT, offset=1)
    assert STOCK.accepts(stock)
    levels = STOCK.child_rows(STOCK.children[0], stock)
    assert stock.record is not None and len(levels) == len(stock.record["levels"])
    assert levels[0][-2:] == (AT, 1)  # each level keeps the version it came from
    item = event("item", "7", at=AT, offset=2)
    assert item.record is not None
    bare = dataclasses.replace(item, record={**item.record, "stock": []})
    assert not STOCK.accepts(bare)
    full = dataclasses.replace(item, record={**item.record, "stock": [{
        "location_id": "L1", "location_name": None, "location_kind": "location",
        "stock_on_hand": Decimal(3), "available_stock": None,
        "actual_available_stock": None, "committed_stock": None}]})
    assert STOCK.accepts(full)
    assert STOCK.row(full)[STOCK.column_names.index("from_entity")] == "item"
    assert STOCK.accepts(dataclasses.replace(bare, op="delete", record=None))


def test_version_breaks_ties_by_event_id() -> None:
    a = event("contact", "1", at=AT, offset=5)
    b = dataclasses.replace(a, event_id="zzz")
    assert version(b) > version(a)
    assert version(dataclasses.replace(a, version_offset=6)) > version(b)
    later = dataclasses.replace(a, version_modified_at=AT + timedelta(seconds=1), version_offset=0)
    assert version(later) > version(dataclasses.replace(a, version_offset=6))


def test_the_projector_orders_versions_by_the_contract() -> None:
    assert version is synced_version  # the image cache's order too (consumers/images.py)


def test_progress_bar_shows_events_and_rate() -> None:
    out = io.StringIO()
    bar = Progress("replay items", 1000, stream=out, every_s=0)
    bar.add(400)
    bar.finish()
    assert "400/1,000 events" in out.getvalue() and "ev/s" in out.getvalue()


def test_query_logging_shows_statement_and_duration(caplog: pytest.LogCaptureFixture) -> None:
    from asyncpg.connection import LoggedQuery

    from projections.database import log_query

    caplog.set_level("INFO", logger="projections.database")
    log_query(LoggedQuery("SELECT  1\n FROM items", ([1, 2, 3],), None, 0.0042, None,
                          None, None))
    assert "sql 4.20 ms (3 rows): SELECT 1 FROM items" in caplog.text


def test_each_entity_type_counts_in_its_own_table() -> None:
    # The API's entity counts read these (api/queries.py): an item's table is items, not stock.
    assert list(ENTITY_TABLES.items()) == [
        ("item", "items"), ("stock", "item_stock"), ("location", "locations"),
        ("contact", "contacts"), ("salesorder", "sales_orders"), ("invoice", "invoices"),
        ("customerpayment", "customer_payments"), ("creditnote", "credit_notes"),
        ("bill", "bills"), ("vendorpayment", "vendor_payments")]
