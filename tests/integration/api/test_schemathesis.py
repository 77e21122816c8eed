"""Schemathesis against the admin API's own OpenAPI document: every answer is documented,
never a 5xx, and matches its declared content type and schema."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Callable, Iterator

import asyncpg
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import negative_data_rejection

from api.app import add_routes
from api.context import ApiContext, TtlCache
from api.errors import error_middleware
from api.history import History
from api.kafka_state import KafkaInspector
from api.openapi import document
from tds.commands.migrate import MIGRATIONS
from tds.kafka import producer_config
from tds.kafka_publisher import Publisher
from tds.metrics import Metrics, exposition
from tds.migrate import apply
from tds.settings import Settings
from tests.integration.api.conftest import TOKEN

SCHEMA = schemathesis.openapi.from_dict(document()).exclude(path="/api/webhooks/zoho")


def _serve(database_url: str, bootstrap: str, schema: str, commands: str, port: int,
           ready: threading.Event, stop: threading.Event) -> None:
    async def main() -> None:
        await apply(database_url, MIGRATIONS, schema=schema)
        settings_ = Settings.from_env({"TDS_API_TOKEN": TOKEN, "TDS_ENABLE_CACHE": "false"})
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4,
                                         server_settings={"search_path": schema})
        assert pool is not None
        metrics = Metrics.create()
        publisher = Publisher.create(producer_config(bootstrap), metrics=metrics)
        await publisher.start()
        ctx = ApiContext(
            settings=settings_, pool=pool, inspector=KafkaInspector(bootstrap=bootstrap),
            sink=publisher, metrics=metrics,
            history=History(read=lambda: exposition(metrics.registry)),
            groups={"tds-streams": []}, org_id="42", cache=TtlCache(1.0, False),
            commands_topic=commands, outbound_topic=commands)
        app = web.Application(middlewares=[error_middleware])
        add_routes(app, ctx)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.to_thread(stop.wait)
        await runner.cleanup()
        await publisher.close()
        await pool.close()
        ctx.inspector.close()

    asyncio.run(main())


@pytest.fixture
def api_url(database_url: str, kafka_bootstrap: str, pg_schema: str,
            topic_factory: Callable[..., str]) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=_serve, args=(
        database_url, kafka_bootstrap, pg_schema, topic_factory("st-cmd", partitions=1), port,
        ready, stop), daemon=True)
    thread.start()
    assert ready.wait(30), "API server did not start"
    yield f"http://127.0.0.1:{port}"
    stop.set()
    thread.join(30)


@SCHEMA.parametrize()
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_api_conforms_to_its_document(case: schemathesis.Case, api_url: str) -> None:  # type: ignore[type-arg]  # Case is generic only in stubs
    # A case that carries a (generated) bearer token gets the real one; a negative case that
    # left the header out on purpose goes without it and must be answered 401.
    headers = ({"Authorization": f"Bearer {TOKEN}"}
               if "Authorization" in (case.headers or {}) else None)
    if case.query:
        # `after` is an opaque cursor: a string the schema allows is not one, and its 400
        # is by design (tests/integration/api/test_admin_api.py covers both answers).
        case.query.pop("after", None)
    excluded: list[CheckFunction] = []
    if case.path == "/api/tds/outbound" and case.method.upper() == "POST":
        # A command_id is an idempotency key: a generated one that comes again with other
        # content gets its 400 by design (tests/integration/api/test_outbound_api.py).
        commands = case.body if isinstance(case.body, list) else [case.body]
        for command in commands:
            if isinstance(command, dict) and "command_id" in command:
                command["command_id"] = str(uuid.uuid4())
        # The document bounds `fields` (two levels, no NUL, numbers within ±1e15) so that
        # what it generates is accepted; the door accepts any JSON object without NUL
        # there, so a deeper or larger one is no refusal to expect.
        excluded.append(negative_data_rejection)
    case.call_and_validate(base_url=api_url, headers=headers, excluded_checks=excluded)
