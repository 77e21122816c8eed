"""The client against the simulator: every entity, bulk details, images, the guide's call."""

from __future__ import annotations

from datetime import timedelta

from producers.zoho import ENTITY_DEFS, ZohoClient
from producers.zoho.timefmt import parse_zoho
from tests.integration.zoho.conftest import ClientFactory
from tests.integration.zoho.simkit import Sim

PATHS = {"item": "items", "contact": "contacts", "salesorder": "salesorders",
         "invoice": "invoices", "customerpayment": "customerpayments",
         "creditnote": "creditnotes", "bill": "bills", "vendorpayment": "vendorpayments",
         "location": "locations"}


async def test_every_entity_lists_and_gets_the_ground_truth(
        sim: Sim, make_client: ClientFactory) -> None:
    client = make_client()
    async with client:
        for entity_type, definition in ENTITY_DEFS.items():
            truth = await sim.control(f"state/{PATHS[entity_type]}?view=list")
            pulled: dict[str, dict[str, object]] = {}
            async for page in client.iter_pages(entity_type, per_page=25):
                for record in page:
                    pulled[str(record[definition.id_field])] = record
            assert pulled == truth["records"], entity_type
            some_id = sorted(pulled)[len(pulled) // 2]
            full = (await sim.truth(PATHS[entity_type]))["records"][some_id]
            assert await client.get_record(entity_type, some_id) == full, entity_type
            assert await client.get_record(entity_type, "1") is None


async def test_itemdetails_and_images(sim: Sim, make_client: ClientFactory) -> None:
    truth = (await sim.truth("items"))["records"]
    ids = sorted(truth)
    async with make_client() as client:
        details = await client.get_item_details(ids)
        assert {d["item_id"]: d for d in details} == truth
        assert all("locations" in d for d in details)
        with_image = next(i for i in ids if truth[i]["image_id"])
        without = next(i for i in ids if not truth[i]["image_id"])
        image = await client.get_image(with_image)
        assert image is not None
        body, content_type = image
        assert content_type in ("image/png", "image/jpeg") and len(body) > 100
        assert await client.get_image(without) is None
        assert await client.get_image("1") is None
    stats = await sim.control("stats")
    assert stats["requests"]["by_endpoint"]["/inventory/v1/itemdetails"] == 2  # 120 ids


async def test_the_guides_get_items_outside_a_context(sim: Sim) -> None:
    client = ZohoClient(sim.settings())  # no DATABASE_URL: the token is cached in-process
    page = await client.get_items(page=1, per_page=200, filter_by="Status.Active")
    truth = (await sim.truth("items"))["records"]
    active = {i for i, r in truth.items() if r["status"] == "active"}
    assert {r["item_id"] for r in page} == active
    assert not page.has_more_page and len(page) == len(active)
    again = await client.get_items(page=2, per_page=50)
    assert len(again) == 50 and again.has_more_page
    assert (await sim.control("stats"))["oauth"]["tokens_issued"] == 1


async def test_incremental_pull_sends_the_offset_as_2b(sim: Sim, make_client: ClientFactory) \
        -> None:
    truth = (await sim.control("state/invoices?view=list"))["records"]
    times = sorted(parse_zoho(r["last_modified_time"]) for r in truth.values())
    since = times[len(times) // 2]
    expected = {i for i, r in truth.items() if parse_zoho(r["last_modified_time"]) >= since}
    # An org-local offset (+0300) must reach Zoho as %2B0300, not as a space.
    local = since.astimezone(parse_zoho("2025-01-01T00:00:00+0300").tzinfo)
    assert local.utcoffset() == timedelta(hours=3)
    async with make_client() as client:
        got = set()
        async for page in client.iter_pages("invoice", modified_since=local, per_page=5):
            assert page.ordered
            got.update(page.ids())
    assert got == expected


async def test_a_pull_during_churn_misses_nothing_that_stayed(
        sim: Sim, make_client: ClientFactory) -> None:
    before = set((await sim.truth("salesorders"))["records"])
    pulled: set[str] = set()
    async with make_client() as client:
        async for page in client.iter_pages("salesorder", per_page=4):
            pulled.update(page.ids())
            await sim.control("changes", {"apply": [
                {"entity": "salesorders", "action": "edited"},
                {"entity": "salesorders", "action": "deleted"},
                {"entity": "salesorders", "action": "created"}]})
    after = set((await sim.truth("salesorders"))["records"])
    assert before & after <= pulled
    assert len(before - after) > 3  # deletes really happened during the pull
