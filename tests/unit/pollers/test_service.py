"""The guide's Python API (README "Python API"): names, and the command it publishes."""

from __future__ import annotations

import pytest

from producers.pollers.errors import PollerError
from producers.pollers.publisher import MemorySink
from producers.service import TDSService, ZohoClient, sync_stock_levels
from schemas.cloudevents import header_map
from schemas.events import Command, decode_event


async def test_create_sync_run_publishes_a_command() -> None:
    sink = MemorySink()
    service = TDSService(sink=sink, topic="cmd")
    run = await service.create_sync_run(run_type="zoho", entity_type="products",
                                        configuration={"batch_size": 100})
    (message,) = sink.topics["cmd"]
    command = decode_event(message.value)
    assert isinstance(command, Command)
    assert (command.kind, command.mode, command.entity_types) == ("sync", "full", ["item"])
    assert command.run_id == run.id and command.options == {"batch_size": "100"}
    assert header_map(message.headers)["ce_type"] == b"tds.command"
    stock = await service.create_sync_run("stock", entity_type="customers")
    assert stock.entity_types == ("item",) and stock.run_type == "stock_sync"
    both = await service.create_sync_run("incremental", entity_type=["invoices", "bills"])
    assert both.entity_types == ("invoice", "bill") and both.run_type == "incremental"


async def test_bad_requests_are_refused_before_publishing() -> None:
    sink = MemorySink()
    service = TDSService(sink=sink)
    with pytest.raises(PollerError):
        await service.create_sync_run(run_type="weekly")
    with pytest.raises(PollerError):
        await service.get_run("x")  # no db
    assert sink.topics == {}


def test_the_guides_names_exist() -> None:
    assert callable(sync_stock_levels)
    assert hasattr(ZohoClient, "get_items")
