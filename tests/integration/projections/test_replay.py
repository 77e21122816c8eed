"""Replay and verify: tables rebuilt from the log while live traffic continues are
identical to the live ones, swap in atomically, and the live projector carries on."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable

import asyncpg

from bench.projector.events import Workload
from projections.catalog import MODELS, select
from projections.projector import ProjectorTopics, run
from projections.rebuild import Rebuild
from tds.metrics import Metrics
from tds.retry import RetryPolicy
from tests.integration.projections.conftest import end_offsets, produce, wait_caught_up
from tests.integration.projections.oracle import actual, differences, expected


async def test_replay_while_live_traffic_continues(
    pool: asyncpg.Pool, kafka_bootstrap: str, topic_factory: Callable[..., str],
    group_factory: Callable[[str], str],
) -> None:
    topic = topic_factory("replay", partitions=3)
    pairs = list(Workload(keys=200, seed=9).stream(6000))
    first, later = pairs[:4000], pairs[4000:]
    produce(kafka_bootstrap, topic, first)
    group = group_factory("live")
    stop = asyncio.Event()
    live = asyncio.create_task(run(
        pool=pool, bootstrap=kafka_bootstrap, group=group,
        topics=ProjectorTopics(topic, "", ""), policy=RetryPolicy((1.0,)),
        metrics=Metrics.create(), stop=stop, batch_size=300))
    try:
        await wait_caught_up(pool, group, topic, end_offsets(kafka_bootstrap, topic))

        async def traffic() -> None:
            for start in range(0, len(later), 200):
                await asyncio.to_thread(produce, kafka_bootstrap, topic,
                                        later[start:start + 200])
                await asyncio.sleep(0.05)

        feeding = asyncio.create_task(traffic())
        bar = io.StringIO()
        report = await Rebuild(pool=pool, bootstrap=kafka_bootstrap, topic=topic, group=group,
                               models=MODELS, batch_size=1000, progress=bar).run()
        await feeding
        assert report.swapped and report.comparable
        assert report.checks and report.identical, [c for c in report.checks
                                                    if not c.identical]
        assert "ev/s" in bar.getvalue()

        # The live projector carries on, into the swapped-in tables.
        await wait_caught_up(pool, group, topic, end_offsets(kafka_bootstrap, topic))
        async with pool.acquire() as conn:
            assert differences(expected(e for _, e in pairs), await actual(conn)) == []
            assert await conn.fetchval("SELECT count(*) FROM products") == \
                await conn.fetchval("SELECT count(*) FROM items")
            names = {r[0] for r in await conn.fetch(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'items'")}
            assert names == {"items_pkey", "items_sku_idx", "items_name_idx"}
            assert await conn.fetchval("SELECT count(*) FROM pg_tables "
                                       "WHERE tablename LIKE '%\\_\\_rebuild'") == 0

        # verify: a rebuild that only compares.
        check = await Rebuild(pool=pool, bootstrap=kafka_bootstrap, topic=topic, group=group,
                              models=select(["items", "stock"]), progress=io.StringIO()
                              ).run(swap=False)
        assert not check.swapped and check.checks and check.identical
        assert {c.live.table for c in check.checks} == {
            "items", "items_tombstones", "item_stock", "stock_levels", "item_stock_tombstones"}
    finally:
        stop.set()
        await live


async def test_verify_notices_a_tampered_table(
    pool: asyncpg.Pool, kafka_bootstrap: str, topic_factory: Callable[..., str],
    group_factory: Callable[[str], str],
) -> None:
    topic = topic_factory("tamper", partitions=2)
    produce(kafka_bootstrap, topic, Workload(keys=50, seed=2, types=("contact",)).stream(500))
    group = group_factory("live")
    stop = asyncio.Event()
    live = asyncio.create_task(run(
        pool=pool, bootstrap=kafka_bootstrap, group=group,
        topics=ProjectorTopics(topic, "", ""), policy=RetryPolicy((1.0,)),
        metrics=Metrics.create(), stop=stop))
    try:
        await wait_caught_up(pool, group, topic, end_offsets(kafka_bootstrap, topic))
    finally:
        stop.set()
        await live
    async with pool.acquire() as conn:
        await conn.execute("UPDATE contacts SET email = 'x' WHERE contact_id = "
                           "(SELECT min(contact_id) FROM contacts)")
    report = await Rebuild(pool=pool, bootstrap=kafka_bootstrap, topic=topic, group=group,
                           models=select(["contacts"]), progress=io.StringIO()).run(swap=False)
    assert [c.live.table for c in report.checks if not c.identical] == ["contacts"]
    # A replay repairs it.
    await Rebuild(pool=pool, bootstrap=kafka_bootstrap, topic=topic, group=group,
                  models=select(["contacts"]), progress=io.StringIO()).run(swap=True)
    again = await Rebuild(pool=pool, bootstrap=kafka_bootstrap, topic=topic, group=group,
                          models=select(["contacts"]), progress=io.StringIO()).run(swap=False)
    assert again.identical and again.checks
