"""Two projector processes writing one item's stock at once (its `item` and `stock` events
have different keys, so different partitions and owners): the second waits for the first
and then sees its rows, instead of failing on them or deadlocking."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.projector.events import event
from projections.writer import EntityWriter, Positioned
from tests.integration.projections.oracle import actual, differences, expected
from tests.support.waits import until

AT = datetime(2025, 7, 1, tzinfo=UTC)


async def test_same_item_from_two_keys_at_once(pool: asyncpg.Pool) -> None:
    items = [event("item", str(n), at=AT, offset=n) for n in (1, 2)]
    items = [dataclasses.replace(e, record={**(e.record or {}), "stock": [{
        "location_id": "loc0", "location_name": None, "location_kind": "location",
        "stock_on_hand": None, "available_stock": None, "actual_available_stock": None,
        "committed_stock": None}]}) for e in items]
    # Newer stock snapshots of the same items, in the opposite order (lock order test).
    stocks = [event("stock", str(n), at=AT + timedelta(seconds=5), offset=10 + n)
              for n in (2, 1)]
    first, second = EntityWriter(audit_group="a"), EntityWriter(audit_group="b")
    async with pool.acquire() as a, pool.acquire() as b:
        await first.prepare(a)
        await second.prepare(b)
        tx_a = a.transaction()
        await tx_a.start()
        await first.apply(a, [Positioned(e, "t", 0, i) for i, e in enumerate(items)])

        async def other() -> None:
            async with b.transaction():
                await second.apply(b, [Positioned(e, "t", 1, i) for i, e in enumerate(stocks)])

        waiting = asyncio.create_task(other())

        async def b_waits_for_a_lock() -> bool:
            return await pool.fetchval(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                b.get_server_pid()) is True

        await until(b_waits_for_a_lock, 30, what="b blocked behind a's locks")
        assert not waiting.done()
        await tx_a.commit()
        await asyncio.wait_for(waiting, 10)
        assert differences(expected([*items, *stocks]), await actual(a)) == []
