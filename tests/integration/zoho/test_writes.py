"""The client's writes against the simulator: a success may be 201, a refusal keeps Zoho's
words, and a write Zoho may have applied (5xx, timeout) is never sent twice by the client."""

from __future__ import annotations

import asyncio

import pytest

from producers.zoho.errors import ZohoBadRequest, ZohoServerError, ZohoTimeout
from tests.integration.zoho.conftest import ClientFactory
from tests.integration.zoho.simkit import Sim, stats_requests


async def _customer(sim: Sim) -> str:
    contacts = (await sim.truth("contacts"))["records"]
    return str(next(i for i, c in contacts.items() if c["contact_type"] == "customer"))


async def test_create_refusal_and_no_resend(sim: Sim, make_client: ClientFactory) -> None:
    customer = await _customer(sim)
    item = next(iter((await sim.truth("items"))["records"]))
    body = {"customer_id": customer, "line_items": [{"item_id": item}]}
    async with make_client(max_attempts=4, timeout_s=0.2) as client:
        answer = await client.request("books", "/salesorders", method="POST",
                                      body={**body, "reference_number": "W-1"})
        assert answer.status == 201 and answer.envelope is not None
        assert answer.envelope["salesorder"]["reference_number"] == "W-1"

        with pytest.raises(ZohoBadRequest) as refused:
            await client.request("books", "/salesorders", method="POST",
                                 body={**body, "date": "13/11/2025"})
        assert not refused.value.retriable and refused.value.code == 2
        assert refused.value.zoho_message == "Invalid value passed for date"

        before = stats_requests(await sim.control("stats"))
        await sim.control("faults", {"error_rate": 1.0})
        with pytest.raises(ZohoServerError) as failed:
            await client.request("books", "/salesorders", method="POST", body=body)
        assert failed.value.retriable
        assert stats_requests(await sim.control("stats")) == before + 1  # sent once

        # A timeout: the client gives up after one send (Zoho may have applied it: the
        # writer's "unknown outcome", which it resolves by looking the record up).
        await sim.control("faults", {"error_rate": 0.0, "timeout_rate": 1.0,
                                     "timeout_hang_s": 0.6})
        with pytest.raises(ZohoTimeout):
            await client.request("books", "/salesorders", method="POST", body=body)
        await asyncio.sleep(0.7)  # let the hung handler finish before the server stops
