"""The three kinds of run: stock sync, incremental reconcile and full sync.

Each pulls pages from Zoho, publishes them as raw events to `zoho.raw.bulk` (waiting for
Kafka's acknowledgement) and only then moves its cursor, so a crash or a daily-limit
stop resumes where it left off and never skips a change.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from producers.pollers.config import PollerConfig
from producers.pollers.runs import SyncRun
from producers.pollers.state import PollState
from producers.zoho.budget import Priority
from producers.zoho.entities import entity_def
from producers.zoho.paging import Page

logger = logging.getLogger(__name__)

STOCK_CURSOR = "stock"
STOCK_SWEEP_CURSOR = "stock:full"
VERIFY_CHUNK = 100

# Ids of one entity type that TDS holds (read models); full sync reports the missing ones.
KnownIds = Callable[[str], AsyncIterator[str]]


class ZohoSource(Protocol):
    """The calls the jobs make (the Zoho client; a stub in unit tests)."""

    def for_class(self, priority: Priority) -> ZohoSource:
        """The same source, its calls in `priority`'s budget class."""
        ...

    def iter_pages(self, entity_type: str, *, modified_since: datetime | None = None,
                   per_page: int = 200, filter_by: str | None = None) -> AsyncIterator[Page]:
        """Every page of an entity type."""
        ...

    async def get_item_details(self, item_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Full items with per-location stock."""
        ...

    async def get_record(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        """One full record, or None."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


async def stock_sync(run: SyncRun, zoho: ZohoSource, state: PollState, config: PollerConfig,
                     *, sweep: bool = False, clock: Callable[[], datetime] = _now) -> None:
    """Stock per item and location: items changed since the stock cursor (every item on
    the first run, when asked, or once per `stock_full_every_s`), with /itemdetails."""
    org = run.org_id
    began = clock()
    cursor = await state.get_cursor(org, STOCK_CURSOR)
    last_sweep = await state.get_cursor(org, STOCK_SWEEP_CURSOR)
    sweep = sweep or cursor is None or last_sweep is None or \
        began - last_sweep > timedelta(seconds=config.stock_full_every_s)
    since = None if sweep or cursor is None else cursor - timedelta(seconds=config.overlap_s)
    mode = "full" if sweep else "incremental"
    run.configure(mode=mode, since=since.isoformat() if since else "",
                  per_page=str(config.per_page))
    expected = await state.last_seen(org, run.record.run_type, run.record.entity_types, mode) \
        if sweep else None
    await run.start(expected)
    high: datetime | None = None
    async for page in zoho.iter_pages("item", modified_since=since, per_page=config.per_page):
        run.page_read("stock", page.context)
        ids = page.ids()
        details = await zoho.get_item_details(ids) if ids else []
        await run.publish_records("stock", details, "item_id")
        high = _latest(high, page.max_modified)
        if page.ordered and high is not None:
            await state.set_cursor(org, STOCK_CURSOR, high)
    if high is not None:
        await state.set_cursor(org, STOCK_CURSOR, high)
    if sweep:
        await state.set_cursor(org, STOCK_SWEEP_CURSOR, began)


async def _pull(run: SyncRun, zoho: ZohoSource, state: PollState, config: PollerConfig,
                entity_type: str, since: datetime | None, *, source: str | None = None,
                seen_ids: set[str] | None = None) -> None:
    """Publish every record of one type modified since `since`; move its cursor."""
    org = run.org_id
    high: datetime | None = None
    async for page in zoho.iter_pages(entity_type, modified_since=since,
                                      per_page=config.per_page):
        run.page_read(entity_type, page.context)
        await run.publish_records(entity_type, page.records, page.id_field, source=source)
        if seen_ids is not None:
            seen_ids.update(page.ids())
        high = _latest(high, page.max_modified)
        if page.ordered and high is not None:
            await state.set_cursor(org, entity_type, high)
    # Cursors hold Zoho's times only (never ours): with nothing seen, the cursor stays.
    if high is not None:
        await state.set_cursor(org, entity_type, high)


async def reconcile(run: SyncRun, zoho: ZohoSource, state: PollState,
                    config: PollerConfig) -> None:
    """Every change since each type's cursor (minus the overlap); the first run of a type
    reads all of it."""
    org = run.org_id
    cursors = {t: await state.get_cursor(org, t) for t in run.record.entity_types}
    initial = sorted(t for t, c in cursors.items() if c is None)
    run.configure(mode="incremental", overlap_s=f"{config.overlap_s:g}",
                  per_page=str(config.per_page), initial=",".join(initial))
    await run.start(None)
    for entity_type, cursor in cursors.items():
        since = None if cursor is None else cursor - timedelta(seconds=config.overlap_s)
        await _pull(run, zoho, state, config, entity_type, since,
                    source="poll.full" if cursor is None else None)


async def full_sync(run: SyncRun, zoho: ZohoSource, state: PollState, config: PollerConfig,
                    *, known_ids: KnownIds | None = None, ids: Sequence[str] = ()) -> None:
    """Every record of the run's types, then deletes: ids TDS holds that Zoho lacks.

    With `ids`, only those records of the (single) entity type are fetched."""
    org = run.org_id
    if ids:
        run.configure(mode="ids", per_page=str(config.per_page))
        await run.start(len(ids) * len(run.record.entity_types))
        for entity_type in run.record.entity_types:
            await _fetch_ids(run, zoho, entity_type, ids)
        return
    run.configure(mode="full", per_page=str(config.per_page),
                  deletes="on" if known_ids is not None else "off")
    await run.start(await state.last_seen(org, run.record.run_type, run.record.entity_types,
                                          "full"))
    for entity_type in run.record.entity_types:
        seen: set[str] = set()
        await _pull(run, zoho, state, config, entity_type, None, seen_ids=seen)
        if known_ids is None:
            continue
        missing = [i async for i in known_ids(entity_type) if i not in seen]
        if missing and config.verify_deletes:
            missing = await _confirm_gone(zoho, entity_type, missing)
        if missing:
            logger.info("full sync %s: %d %s records are gone from Zoho", run.run_id,
                        len(missing), entity_type)
            await run.publish_deleted(entity_type, missing, _id_field(entity_type))


def _id_field(entity_type: str) -> str:
    return entity_def(entity_type).id_field


async def _fetch_ids(run: SyncRun, zoho: ZohoSource, entity_type: str,
                     ids: Sequence[str]) -> None:
    id_field = _id_field(entity_type)
    if entity_type == "item":
        found = await zoho.get_item_details(list(ids))
        await run.publish_records(entity_type, found, id_field)
        return
    for entity_id in ids:
        record = await zoho.get_record(entity_type, entity_id)
        if record is not None:
            await run.publish_records(entity_type, [record], id_field)


async def _confirm_gone(zoho: ZohoSource, entity_type: str,
                        candidates: list[str]) -> list[str]:
    """Ask Zoho again by id: a record created after the listing is not a delete."""
    if entity_type == "item":
        gone: list[str] = []
        for start in range(0, len(candidates), VERIFY_CHUNK):
            chunk = candidates[start:start + VERIFY_CHUNK]
            alive = {str(r.get("item_id")) for r in await zoho.get_item_details(chunk)}
            gone += [i for i in chunk if i not in alive]
        return gone
    if entity_type == "location":
        return candidates  # the listing is complete and tiny; there is no cheaper check
    return [i for i in candidates if await zoho.get_record(entity_type, i) is None]
