"""The image cache against a real HTTP server on loopback: each image fetched once per
change, stored content-addressed, recorded in item_images; failures go to the retry chain."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from confluent_kafka import Producer

from bench.projector.events import ORG, event
from consumers.batching import BatchingConsumer
from consumers.failures import FailureRouter
from consumers.images import ImageCache, ImageStore
from consumers.offsets import PgOffsetStore
from schemas.events import EntitySynced
from schemas.topics import entity_key
from tds.kafka import producer_config
from tds.metrics import Metrics
from tds.provision.common import Services
from tds.retry import RetryPolicy
from tests.integration.projections.conftest import end_offsets, produce, wait_caught_up
from tests.integration.projections.test_offset_resets import kafka_bin

PNG = b"\x89PNG\r\n\x1a\n" + b"first image"
JPEG = b"\xff\xd8\xff" + b"second image"


class ImageServer:
    """Serves /items/{id}/image from a dict: bytes, 404 or 500; counts requests."""

    def __init__(self) -> None:
        self.images: dict[str, tuple[bytes, str] | int] = {}
        self.requests: Counter[str] = Counter()

    async def handle(self, request: web.Request) -> web.Response:
        item_id = request.match_info["item_id"]
        self.requests[item_id] += 1
        found = self.images.get(item_id, 404)
        if isinstance(found, int):
            return web.Response(status=found)
        return web.Response(body=found[0], content_type=found[1])


class HttpImages:
    """The adapter the test wires in place of the Zoho client."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self._session, self._base = session, base

    async def get_image(self, item_id: str) -> tuple[bytes, str] | None:
        async with self._session.get(f"{self._base}/items/{item_id}/image") as answer:
            if answer.status == 404:
                return None
            answer.raise_for_status()
            return await answer.read(), answer.content_type


@pytest.fixture
async def server() -> AsyncIterator[tuple[ImageServer, str]]:
    images = ImageServer()
    app = web.Application()
    app.router.add_get("/items/{item_id}/image", images.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # started
    yield images, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _item(item_id: str, tick: int, image: str | None, name: str = "photo") -> EntitySynced:
    base = event("item", item_id, at=datetime(2025, 6, 1, tzinfo=UTC) + timedelta(seconds=tick),
                 offset=tick)
    assert base.record is not None
    return dataclasses.replace(base, record={**base.record, "image_id": image,
                                             "image_name": name if image else None})


async def _run_cache(pool: asyncpg.Pool, kafka: str, topic: str, group: str, images: Path,
                     source: HttpImages, router: FailureRouter) -> ImageCache:
    cache = ImageCache(pool=pool, source=source, store=ImageStore(images), router=router,
                       metrics=Metrics.create(), group=group)
    stop = asyncio.Event()
    consumer = BatchingConsumer(bootstrap=kafka, group=group, topics=[topic],
                                store=PgOffsetStore(pool, group), handler=cache.handle,
                                batch_size=3)
    task = asyncio.create_task(consumer.run(stop))
    try:
        await wait_caught_up(pool, group, topic, end_offsets(kafka, topic), timeout_s=60)
    finally:
        stop.set()
        await task
    return cache


async def test_images_fetched_once_per_change(
    pool: asyncpg.Pool, kafka_bootstrap: str, topic_factory: Callable[..., str],
    group_factory: Callable[[str], str], server: tuple[ImageServer, str], tmp_path: Path,
) -> None:
    images, base = server
    images.images = {"1": (PNG, "image/png"), "2": (PNG, "image/png"), "4": 404, "5": 500}
    topic = topic_factory("img", partitions=2)
    retry = topic_factory("img-retry", partitions=1)
    stream = [
        _item("1", 1, "imgA"),
        _item("1", 2, "imgA"),            # unchanged image: not fetched again
        _item("2", 3, "imgB"),            # same bytes as item 1: one file
        _item("3", 4, None),              # no image
        _item("4", 5, "imgC"),            # the source has none (404)
        _item("5", 6, "imgD"),            # the source fails (500): retry chain
    ]
    produce(kafka_bootstrap, topic, [(entity_key(ORG, "item", e.entity_id), e)
                                     for e in stream])
    producer = Producer(producer_config(kafka_bootstrap))
    router = FailureRouter(producer=producer, policy=RetryPolicy((5.0,)), group="g",
                           stage="images", topic_for=lambda t: retry)
    folder = tmp_path / "images"
    group = group_factory("img")
    async with aiohttp.ClientSession() as session:
        source = HttpImages(session, base)
        await _run_cache(pool, kafka_bootstrap, topic, group, folder, source, router)
        assert images.requests == Counter({"1": 1, "2": 1, "4": 1, "5": 1})
        # A new image for item 1, and a repeat of everything else: one more fetch.
        images.images["1"] = (JPEG, "image/jpeg")
        produce(kafka_bootstrap, topic, [(entity_key(ORG, "item", "1"), _item("1", 8, "imgE")),
                                         (entity_key(ORG, "item", "2"), _item("2", 9, "imgB")),
                                         (entity_key(ORG, "item", "4"), _item("4", 10, "imgC"))])
        await _run_cache(pool, kafka_bootstrap, topic, group, folder, source, router)
    assert images.requests == Counter({"1": 2, "2": 1, "4": 1, "5": 1})
    assert end_offsets(kafka_bootstrap, retry) == {0: 1}

    png, jpeg = hashlib.sha256(PNG).hexdigest(), hashlib.sha256(JPEG).hexdigest()
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) \
        == sorted([f"{png[:2]}/{png}.png", f"{jpeg[:2]}/{jpeg}.jpg"])
    async with pool.acquire() as conn:
        rows = {r["item_id"]: r for r in await conn.fetch("SELECT * FROM item_images")}
    assert set(rows) == {"1", "2", "3", "4"}
    assert (rows["1"]["image_id"], rows["1"]["sha256"]) == ("imgE", jpeg)
    assert rows["1"]["path"] == f"{jpeg[:2]}/{jpeg}.jpg"
    assert rows["2"]["sha256"] == png
    assert rows["3"]["image_id"] is None and rows["3"]["sha256"] is None
    assert rows["4"]["image_id"] == "imgC" and rows["4"]["sha256"] is None


async def test_images_follow_a_reset_made_with_kafka_consumer_groups(
    pool: asyncpg.Pool, kafka_bootstrap: str, topic_factory: Callable[..., str],
    group_factory: Callable[[str], str], server: tuple[ImageServer, str], tmp_path: Path,
    services: Services,
) -> None:
    images, base = server
    images.images = {"1": (PNG, "image/png"), "2": (JPEG, "image/jpeg")}
    topic = topic_factory("img", partitions=1)
    produce(kafka_bootstrap, topic, [(entity_key(ORG, "item", i), _item(i, t, f"img{i}"))
                                     for t, i in enumerate(("1", "2"), start=1)])
    producer = Producer(producer_config(kafka_bootstrap))
    router = FailureRouter(producer=producer, policy=RetryPolicy((5.0,)), group="g",
                           stage="images", topic_for=lambda t: topic)
    group = group_factory("img")
    async with aiohttp.ClientSession() as session:
        source = HttpImages(session, base)
        await _run_cache(pool, kafka_bootstrap, topic, group, tmp_path, source, router)
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM item_images WHERE item_id = '1'")
        reset = await asyncio.to_thread(subprocess.run, [
            kafka_bin(services.kafka_home, "kafka-consumer-groups.sh"), "--bootstrap-server",
            kafka_bootstrap, "--group", group, "--topic", topic, "--reset-offsets",
            "--to-earliest", "--execute"], capture_output=True, text=True, timeout=120)
        assert reset.returncode == 0, reset.stderr
        cache = ImageCache(pool=pool, source=source, store=ImageStore(tmp_path),
                           router=router, metrics=Metrics.create(), group=group)
        stop = asyncio.Event()
        consumer = BatchingConsumer(bootstrap=kafka_bootstrap, group=group, topics=[topic],
                                    store=PgOffsetStore(pool, group), handler=cache.handle)
        task = asyncio.create_task(consumer.run(stop))
        try:
            for _ in range(300):
                async with pool.acquire() as conn:
                    if await conn.fetchval("SELECT count(*) FROM item_images") == 2:
                        break
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            await task
    # The deleted row is fetched and written again; the other is the same version: kept.
    assert images.requests == Counter({"1": 2, "2": 1})
