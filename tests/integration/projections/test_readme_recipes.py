"""Every Kafka recipe of the README runs verbatim (only `$KAFKA_BOOTSTRAP_SERVERS` and
`$KAFKA_HOME` given) and does what the README says: the projector re-applies after a
reset, a downstream service reads everything again, dead letters show why they failed.

The recipes name the real topics and groups, so they run against a broker of this test's
own (Kafka's jars linked from the shared cache), never against one a demo may be using.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from confluent_kafka import Consumer, Producer

from bench.projector.events import Workload
from projections.projector import ProjectorTopics, run
from schemas.cloudevents import ce_headers
from schemas.topics import DEADLETTER, ENTITY_SYNCED, catalogue
from tds.kafka import consumer_config, producer_config
from tds.metrics import Metrics
from tds.provision.common import Services
from tds.provision.kafka import kafka_home, start_node, stop_kafka
from tds.retry import Origin, RetryPolicy, route_failure
from tds.topics import create_missing
from tests.integration.projections.conftest import end_offsets, produce, wait_caught_up
from tests.integration.projections.oracle import actual, differences

README = Path(__file__).resolve().parents[3] / "README.md"
# Each recipe by a phrase only it contains: a recipe added to the README without a check
# here fails the test.
RECIPES = {
    "topics": "kafka-topics.sh --bootstrap-server $KAFKA_BOOTSTRAP_SERVERS --describe",
    "projector-reset": "--group tds-projector --topic tds.entity.synced --reset-offsets",
    "projector-describe": "--describe --group tds-projector",
    "downstream-reset": "--group my-service",
    "deadletters": "--topic tds.deadletter",
    "client-properties": "tds kafka-properties -o client.properties",
}


def readme_recipes() -> dict[str, str]:
    """The README's ```sh blocks that call Kafka's scripts, by the phrase naming them."""
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
              if "$KAFKA_HOME/bin/" in b]
    found: dict[str, str] = {}
    for block in blocks:
        names = [n for n, phrase in RECIPES.items() if phrase in block]
        assert len(names) == 1, f"README recipe without exactly one check here:\n{block}"
        found[names[0]] = block
    assert set(found) == set(RECIPES), f"README lost recipes: {set(RECIPES) - set(found)}"
    return found


@pytest.fixture(scope="module")
def private_kafka(services: Services, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[str]:
    """A broker of this module's own, on the shared jars."""
    shared_lib = kafka_home() / "lib"
    saved = os.environ.get("TDS_CACHE_DIR")
    os.environ["TDS_CACHE_DIR"] = str(tmp_path_factory.mktemp("kafka"))
    try:
        kafka_home().mkdir(parents=True, exist_ok=True)
        (kafka_home() / "lib").symlink_to(shared_lib, target_is_directory=True)
        bootstrap = start_node().bootstrap
        create_missing(bootstrap, catalogue(partitions=2, retry_levels=1))
        yield bootstrap
    finally:
        stop_kafka()
        if saved is None:
            os.environ.pop("TDS_CACHE_DIR", None)
        else:
            os.environ["TDS_CACHE_DIR"] = saved


def recipe(name: str, services: Services, bootstrap: str, cwd: Path | None = None) -> str:
    """Run one README recipe as written (`tds` on the PATH, as after installing); its
    standard output."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_recipes()[name]], capture_output=True,
        text=True, timeout=180, check=False, cwd=cwd,
        env={**os.environ, "KAFKA_HOME": services.kafka_home, "PATH": path,
             "KAFKA_BOOTSTRAP_SERVERS": bootstrap})
    assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture
async def projected(pool: asyncpg.Pool, private_kafka: str) -> AsyncIterator[asyncpg.Pool]:
    """tds.entity.synced with events, projected by group tds-projector into `pool`."""
    produce(private_kafka, ENTITY_SYNCED, Workload(keys=40, seed=11).stream(300))
    await _project(pool, private_kafka, lambda: wait_caught_up(
        pool, "tds-projector", ENTITY_SYNCED, end_offsets(private_kafka, ENTITY_SYNCED)))
    yield pool


async def _project(pool: asyncpg.Pool, bootstrap: str,
                   until: Callable[[], Awaitable[object]]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run(
        pool=pool, bootstrap=bootstrap, group="tds-projector",
        topics=ProjectorTopics(ENTITY_SYNCED, "", ""), policy=RetryPolicy((1.0,)),
        metrics=Metrics.create(), stop=stop))
    try:
        await asyncio.wait_for(until(), 90)
    finally:
        stop.set()
        await task


def _read_all(bootstrap: str, group: str) -> int:
    """Messages a downstream service (group `group`) receives until it is caught up."""
    consumer = Consumer(consumer_config(bootstrap, group))
    consumer.subscribe([ENTITY_SYNCED])
    total = sum(end_offsets(bootstrap, ENTITY_SYNCED).values())
    seen = 0
    try:
        for _ in range(60):
            messages = consumer.consume(500, 0.5)
            seen += sum(1 for m in messages if m.error() is None)
            if messages:
                consumer.commit(asynchronous=False)
            if seen and not messages and consumer.assignment():
                positions = consumer.position(consumer.assignment())
                if sum(tp.offset for tp in positions if tp.offset >= 0) >= total:
                    break
    finally:
        consumer.close()
    return seen


def test_the_readme_lists_only_checked_recipes() -> None:
    assert set(readme_recipes()) == set(RECIPES)


async def test_projector_reset_recipe_heals_rows(projected: asyncpg.Pool, services: Services,
                                                 private_kafka: str) -> None:
    async with projected.acquire() as conn:
        healthy = await actual(conn)
        await conn.execute("UPDATE items SET name = 'edited by hand' WHERE item_id IN "
                           "(SELECT item_id FROM items ORDER BY item_id LIMIT 3)")
        await conn.execute("DELETE FROM contacts WHERE contact_id IN "
                           "(SELECT contact_id FROM contacts ORDER BY contact_id LIMIT 2)")
        audit = await conn.fetchval("SELECT count(*) FROM audit_log")
    described = recipe("projector-describe", services, private_kafka)
    assert "tds-projector" in described and ENTITY_SYNCED in described
    recipe("projector-reset", services, private_kafka)

    async def healed() -> None:
        while True:
            async with projected.acquire() as conn:
                if differences(healthy, await actual(conn)) == []:
                    return
            await asyncio.sleep(0.2)

    await _project(projected, private_kafka, healed)
    async with projected.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == audit


def test_topic_recipes_describe_the_topic(services: Services, private_kafka: str) -> None:
    shown = recipe("topics", services, private_kafka)  # describe, then the end offsets
    assert f"Topic: {ENTITY_SYNCED}" in shown
    assert re.search(rf"^{re.escape(ENTITY_SYNCED)}:0:\d+$", shown, re.M), shown


def test_downstream_replay_recipe_reads_everything_again(services: Services,
                                                        private_kafka: str) -> None:
    produce(private_kafka, ENTITY_SYNCED, Workload(keys=10, seed=12).stream(50))
    first = _read_all(private_kafka, "my-service")
    assert first == sum(end_offsets(private_kafka, ENTITY_SYNCED).values())
    assert _read_all(private_kafka, "my-service") == 0  # caught up: nothing new
    recipe("downstream-reset", services, private_kafka)
    assert _read_all(private_kafka, "my-service") == first


def test_deadletter_recipe_shows_why_a_message_failed(services: Services,
                                                      private_kafka: str) -> None:
    headers = route_failure(
        RetryPolicy(()), ce_headers("zoho.webhook.received", "/test"),
        Origin("zoho.raw.realtime", 1, 40, 1_700_000_000_000, "tds-streams", "streams"),
        ValueError("missing item_id")).headers
    producer = Producer(producer_config(private_kafka))
    producer.produce(DEADLETTER, key=b"42:item:7", value=b"\xc3\x01avro", headers=headers)
    assert producer.flush(30) == 0
    shown = recipe("deadletters", services, private_kafka)
    # One record (its error trace header spans lines): the key, where and why it failed.
    for shown_part in ("\t42:item:7", "tds_error_class:ValueError",
                       "tds_error_message:missing item_id",
                       "tds_original_topic:zoho.raw.realtime", "Partition:"):
        assert shown_part in shown, shown
    assert "\x01avro" not in shown  # the binary value stays out of the terminal


def test_client_properties_recipe_lists_the_topics(services: Services, private_kafka: str,
                                                  tmp_path: Path) -> None:
    shown = recipe("client-properties", services, private_kafka, cwd=tmp_path)
    assert ENTITY_SYNCED in shown.split(), shown
    written = tmp_path / "client.properties"
    assert written.stat().st_mode & 0o077 == 0  # private: it may hold the password
    assert "security.protocol=PLAINTEXT" in written.read_text().splitlines()
