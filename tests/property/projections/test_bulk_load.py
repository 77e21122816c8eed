"""Replay's bulk load (the log collapsed to each record's newest event, then COPYed) gives
the same tables as the projector applying the stream event by event, whatever the
duplication, order or replayed prefix (real PostgreSQL)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.bulk import Collapser, copy_winners
from projections.catalog import MODELS
from schemas.events import EntitySynced
from tests.integration.projections.oracle import Rows, actual, differences, expected
from tests.property.projections.test_order_independence import (  # noqa: F401  # the fixture
    disturbed,
    schema,
    streams,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Message:
    """The part of a Kafka message the collapser reads."""

    p: int
    o: int
    v: bytes | None

    def partition(self) -> int:
        return self.p

    def offset(self) -> int:
        return self.o

    def value(self) -> bytes | None:
        return self.v


async def _bulk(dsn: str, search_path: str, events: list[EntitySynced]) -> Rows:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": search_path})
    try:
        tables = [t for m in MODELS for t in m.tables]
        await conn.execute(f"TRUNCATE {', '.join(tables)}")
        collapser = Collapser(MODELS, topic="t")
        collapser.add(Message(0, i, e.encode()) for i, e in enumerate(events))
        winners = collapser.winners()
        async with conn.transaction():
            for model in MODELS:
                await copy_winners(conn, model, winners[model.name], {t: t for t in tables})
        return await actual(conn)
    finally:
        await conn.close()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bulk_load_equals_event_by_event(
    data: st.DataObject, database_url: str, schema: str,  # noqa: F811  # the fixture
) -> None:
    base = data.draw(streams())
    noisy = data.draw(disturbed(base))
    assert differences(expected(base), asyncio.run(_bulk(database_url, schema, noisy))) == []
