"""A Zoho fetcher for worker subprocesses: records from a JSON file, some ids broken."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tds.settings import Settings


class DictFetcher:
    """`{"records": {"item:1": {...}}, "broken": ["666"]}`: broken ids always fail."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.records: dict[str, dict[str, Any]] = data.get("records", {})
        self.broken = set(data.get("broken", []))

    async def get_record(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        if entity_id in self.broken:
            raise ConnectionError(f"simulated Zoho outage for {entity_type} {entity_id}")
        return self.records.get(f"{entity_type}:{entity_id}")


@asynccontextmanager
async def open_fetcher(settings: Settings) -> AsyncIterator[DictFetcher]:
    """What `tds worker --fetcher tests.integration.streams.fetchers:open_fetcher` opens."""
    yield DictFetcher(_load())


def _load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(os.environ["TDS_TEST_FETCHER_RECORDS"]).read_text())
    return data
