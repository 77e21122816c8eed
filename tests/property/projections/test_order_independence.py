"""Any duplication, reordering or replayed prefix of a stream, cut into any batches, gives
the same read models as the stream applied once (real PostgreSQL, the projector's SQL)."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.projector.events import event
from projections.catalog import MODELS
from projections.writer import EntityWriter, Positioned
from schemas.events import EntitySynced
from tds.migrate import apply
from tests.integration.projections.conftest import MIGRATIONS
from tests.integration.projections.oracle import Rows, actual, differences, expected

pytestmark = pytest.mark.integration

_T0 = datetime(2025, 1, 1, tzinfo=UTC)
TYPES = ("item", "stock", "invoice", "contact")


@pytest.fixture(scope="module")
def schema(database_url: str) -> Iterator[str]:
    name = f"prop_{uuid.uuid4().hex[:10]}"
    asyncio.run(apply(database_url, MIGRATIONS, schema=name))
    yield name

    async def drop() -> None:
        conn = await asyncpg.connect(database_url)
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        await conn.close()

    asyncio.run(drop())


@st.composite
def streams(draw: st.DrawFn) -> list[EntitySynced]:
    """Distinct events of a few records; versions collide on purpose (ties)."""
    count = draw(st.integers(1, 25))
    out = []
    for n in range(count):
        entity_type = draw(st.sampled_from(TYPES))
        out.append(event(
            entity_type, draw(st.sampled_from(["1", "2", "3"])),
            at=_T0 + timedelta(seconds=draw(st.integers(0, 4))), offset=draw(st.integers(0, 3)),
            op=draw(st.sampled_from(["upsert", "upsert", "delete"])),
            rng=random.Random(draw(st.integers(0, 2**32)) * 100 + n)))
    return out


@st.composite
def disturbed(draw: st.DrawFn, base: list[EntitySynced]) -> list[EntitySynced]:
    """The same events duplicated, shuffled, with a prefix replayed."""
    copies = [e for e in base for _ in range(draw(st.integers(1, 3)))]
    shuffled = draw(st.permutations(copies))
    prefix = base[:draw(st.integers(0, len(base)))]
    return [*shuffled, *prefix]


async def _apply(dsn: str, schema: str, events: list[EntitySynced], cuts: list[int]) -> Rows:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        tables = [t for m in MODELS for t in m.tables]
        await conn.execute(f"TRUNCATE {', '.join(tables)}")
        writer = EntityWriter(audit_group=None)
        await writer.prepare(conn)
        positioned = [Positioned(e, "t", 0, i) for i, e in enumerate(events)]
        bounds = [0, *[c for c in cuts if c < len(events)], len(events)]
        for lo, hi in itertools.pairwise(bounds):
            async with conn.transaction():
                await writer.apply(conn, positioned[lo:hi])
        return await actual(conn)
    finally:
        await conn.close()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_disturbance_gives_the_same_tables(
    data: st.DataObject, database_url: str, schema: str,
) -> None:
    base = data.draw(streams())
    noisy = data.draw(disturbed(base))
    once = asyncio.run(_apply(database_url, schema, base, []))
    again = asyncio.run(_apply(database_url, schema, noisy, data.draw(st.builds(
        lambda xs: sorted(xs), st.sets(st.integers(1, max(len(noisy) - 1, 1)), max_size=4)))))
    assert differences(once, again) == []
    assert differences(expected(base), once) == []
