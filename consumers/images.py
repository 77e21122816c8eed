"""The image cache: item upserts on tds.entity.synced → image files + `item_images` rows.

When an item's image is new or changed (image id, name or type differ from the row in
`item_images`), its bytes are fetched through an `ImageSource` (the Zoho client) and
stored content-addressed: `<TDS_IMAGE_DIR>/<sha[:2]>/<sha256>.<ext>`, so the same bytes
are stored once. Unchanged images are not fetched again. The row (path relative to the
image folder, hash, content type) and the consumer's offsets are written in one
transaction; a failed fetch goes through the retry chain and leaves the row as it was.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from consumers.batching import Batch
from consumers.errors import RowRejected, StoreSchemaError, StoreUnavailable
from consumers.failures import FailureRouter, RoutingUnavailable
from consumers.offsets import claim
from consumers.postgres import is_driver_error, translate
from schemas.codec import Codec, default_codec
from schemas.errors import CodecError
from schemas.events import EntitySynced, decode_event, synced_version
from schemas.topics import parse_key
from tds.kafka import MessageLike
from tds.metrics import Metrics

logger = logging.getLogger(__name__)

STAGE = "images"
DEFAULT_GROUP = "tds-images"


class ImageSource(Protocol):
    """Where image bytes come from (producers.zoho's client in production)."""

    async def get_image(self, item_id: str) -> tuple[bytes, str] | None:
        """The item's image bytes and content type; None when it has no image."""
        ...


@dataclass(frozen=True, slots=True)
class StoredImage:
    """One file in the content-addressed folder."""

    sha256: str
    path: str  # relative to the image folder
    content_type: str
    size: int


class ImageStore:
    """A content-addressed folder: a file's name is the SHA-256 of its bytes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, data: bytes, content_type: str) -> StoredImage:
        """Store `data` unless an identical file is already there (atomic rename)."""
        digest = hashlib.sha256(data).hexdigest()
        ext = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
        relative = f"{digest[:2]}/{digest}{ext}"
        target = self.root / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return StoredImage(digest, relative, content_type, len(data))


_LOAD = """SELECT org_id, item_id, image_id, image_name, image_type, sha256,
       version_modified_at, version_offset, event_id
FROM item_images WHERE (org_id, item_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"""
_UPSERT = """INSERT INTO item_images AS g (org_id, item_id, image_id, image_name, image_type,
    sha256, path, content_type, size_bytes, fetched_at, version_modified_at, version_offset,
    event_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($10, now()), $11, $12, $13)
ON CONFLICT (org_id, item_id) DO UPDATE SET image_id = EXCLUDED.image_id,
    image_name = EXCLUDED.image_name, image_type = EXCLUDED.image_type,
    sha256 = COALESCE(EXCLUDED.sha256, CASE WHEN $14 THEN g.sha256 END),
    path = COALESCE(EXCLUDED.path, CASE WHEN $14 THEN g.path END),
    content_type = COALESCE(EXCLUDED.content_type, CASE WHEN $14 THEN g.content_type END),
    size_bytes = COALESCE(EXCLUDED.size_bytes, CASE WHEN $14 THEN g.size_bytes END),
    fetched_at = CASE WHEN $14 THEN g.fetched_at ELSE EXCLUDED.fetched_at END,
    version_modified_at = EXCLUDED.version_modified_at,
    version_offset = EXCLUDED.version_offset, event_id = EXCLUDED.event_id
WHERE (g.version_modified_at, g.version_offset, g.event_id)
    < (EXCLUDED.version_modified_at, EXCLUDED.version_offset, EXCLUDED.event_id)"""
_DELETE = """DELETE FROM item_images WHERE org_id = $1 AND item_id = $2
AND (version_modified_at, version_offset, event_id) < ($3, $4, $5)"""

def _image_of(event: EntitySynced) -> tuple[str | None, str | None, str | None]:
    record = event.record or {}
    return record.get("image_id"), record.get("image_name"), record.get("image_type")


@dataclass(frozen=True, slots=True)
class Work:
    """What one item's newest event in a batch asks for."""

    message: MessageLike
    event: EntitySynced
    action: str  # fetch | keep | clear | delete
    stored: StoredImage | None = None
    missing: bool = False  # the source had no image


class ImageCache:
    """The batch handler of the image consumer group."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        source: ImageSource,
        store: ImageStore,
        router: FailureRouter,
        metrics: Metrics,
        group: str = DEFAULT_GROUP,
        codec: Codec | None = None,
        concurrency: int = 4,
    ) -> None:
        self._pool = pool
        self._source = source
        self._store = store
        self._router = router
        self._metrics = metrics
        self.group = group
        self._codec = codec or default_codec()
        self._limit = asyncio.Semaphore(concurrency)
        self.fetched = 0

    def _newest_items(
        self, messages: Sequence[MessageLike], failed: list[tuple[MessageLike, BaseException]]
    ) -> dict[tuple[str, str], tuple[MessageLike, EntitySynced]]:
        newest: dict[tuple[str, str], tuple[MessageLike, EntitySynced]] = {}
        for message in messages:
            key, value = message.key(), message.value()
            try:
                if key is None or value is None or parse_key(key)[1] != "item":
                    continue
                event = decode_event(value, codec=self._codec, topic=message.topic(),
                                     partition=message.partition(), offset=message.offset())
            except (ValueError, UnicodeDecodeError):
                continue  # not an entity key: not ours
            except CodecError as exc:
                failed.append((message, exc))
                continue
            if not isinstance(event, EntitySynced) or event.entity_type != "item":
                continue
            found = (event.org_id, event.entity_id)
            current = newest.get(found)
            if current is None or synced_version(event) > synced_version(current[1]):
                newest[found] = (message, event)
        return newest

    async def handle(self, batch: Batch) -> None:
        """Fetch what changed, then record rows and offsets in one transaction."""
        failed: list[tuple[MessageLike, BaseException]] = []
        newest = self._newest_items(batch.messages, failed)
        rows: dict[tuple[str, str], Any] = {}
        if newest:
            async with self._pool.acquire() as conn:
                found = await conn.fetch(_LOAD, [k[0] for k in newest], [k[1] for k in newest])
            rows = {(r["org_id"], r["item_id"]): r for r in found}
        plan: list[Work] = []
        for found_key, (message, event) in newest.items():
            row = rows.get(found_key)
            if row is not None and (row["version_modified_at"], row["version_offset"],
                                    row["event_id"]) >= synced_version(event):
                self._metrics.images_downloaded.labels("stale").inc()
                continue
            if event.op == "delete":
                plan.append(Work(message, event, "delete"))
            elif _image_of(event)[0] is None:
                plan.append(Work(message, event, "clear"))
            elif row is not None and (row["image_id"], row["image_name"], row["image_type"]) \
                    == _image_of(event):
                plan.append(Work(message, event, "keep"))
            else:
                plan.append(Work(message, event, "fetch"))
        done = await asyncio.gather(*(self._fetch(w) if w.action == "fetch" else _ready(w)
                                      for w in plan), return_exceptions=True)
        writes: list[Work] = []
        for work, outcome in zip(plan, done, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome
                self._metrics.images_downloaded.labels("failed").inc()
                failed.append((work.message, outcome))
            else:
                writes.append(outcome)
        try:
            await self._commit(batch, writes, failed)
        except RowRejected as exc:  # PostgreSQL refused a row: hand the batch's items on
            await self._commit(batch, [], failed + [(w.message, exc) for w in writes])

    async def _fetch(self, work: Work) -> Work:
        async with self._limit:
            found = await self._source.get_image(work.event.entity_id)
        self.fetched += 1
        if found is None:
            self._metrics.images_downloaded.labels("missing").inc()
            return Work(work.message, work.event, "fetch", None, missing=True)
        data, content_type = found
        stored = await asyncio.to_thread(self._store.put, data, content_type)
        self._metrics.images_downloaded.labels("downloaded").inc()
        logger.info("item %s image %s stored as %s (%d bytes)", work.event.entity_id,
                    _image_of(work.event)[0], stored.path, stored.size)
        return Work(work.message, work.event, "fetch", stored)

    async def _commit(self, batch: Batch, writes: list[Work],
                      failed: list[tuple[MessageLike, BaseException]]) -> None:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await claim(conn, self.group, batch.claims)
                for work in writes:
                    e = work.event
                    if work.action == "delete":
                        await conn.execute(_DELETE, e.org_id, e.entity_id, *synced_version(e))
                        continue
                    image_id, name, kind = _image_of(e)
                    s = work.stored
                    keep = work.action == "keep"
                    if keep:
                        self._metrics.images_downloaded.labels("unchanged").inc()
                    await conn.execute(
                        _UPSERT, e.org_id, e.entity_id, image_id, name, kind,
                        s.sha256 if s else None, s.path if s else None,
                        s.content_type if s else None, s.size if s else None, None,
                        *synced_version(e), keep)
                for message, error in failed:
                    self._router.route(message, error)
                await asyncio.to_thread(self._router.flush)
        except (RoutingUnavailable, RowRejected, StoreUnavailable, StoreSchemaError):
            raise
        except Exception as exc:
            if is_driver_error(exc):
                raise translate(exc) from exc
            raise


async def _ready(work: Work) -> Work:
    return work
