"""`tds web`: its parser, its producer settings, and the two apps it builds (the webhook
listener's answers 404 on every admin path, the admin listener's on the webhook paths)."""

from __future__ import annotations

import pytest
from aiohttp import ClientTimeout
from aiohttp.test_utils import TestClient, TestServer

from tds.cli import build_parser
from tds.commands.web import (
    build_admin_app,
    build_webhook_app,
    listen_addresses,
    webhook_producer_config,
)
from tds.errors import SettingsError
from tds.kafka_publisher import Publisher
from tds.metrics import Metrics
from tds.settings import Settings
from tests.unit.webhook.stubs import StubProducer


def test_defaults_are_the_guides_port_on_loopback() -> None:
    args = build_parser().parse_args(["web"])
    assert (args.topic, args.kafka_poll) == ("zoho.raw.realtime", "thread")
    assert listen_addresses(args, Settings.from_env({})) == (("127.0.0.1", 8001),
                                                             ("127.0.0.1", 8000))


ANY = "0.0.0.0"  # noqa: S104  # a setting under test, never bound here


def test_listener_addresses_come_from_settings_and_the_old_flags_set_the_admin() -> None:
    settings = Settings.from_env({"TDS_WEBHOOK_HOST": ANY, "TDS_WEBHOOK_PORT": "9001",
                                  "TDS_ADMIN_HOST": "10.0.0.5", "TDS_ADMIN_PORT": "9000"})
    args = build_parser().parse_args(["web"])
    assert listen_addresses(args, settings) == ((ANY, 9001), ("10.0.0.5", 9000))
    old = build_parser().parse_args(["web", "--host", "127.0.0.2", "--port", "7000"])
    assert listen_addresses(old, settings) == ((ANY, 9001), ("127.0.0.2", 7000))
    new = build_parser().parse_args(["up", "--admin-port", "7100", "--webhook-port", "7101",
                                     "--webhook-host", "::"])
    assert listen_addresses(new, settings) == (("::", 7101), ("10.0.0.5", 7100))


def test_no_api_refuses_admin_flags_it_would_ignore() -> None:
    from tds.commands.web import run

    args = build_parser().parse_args(["web", "--no-api", "--port", "9"])
    with pytest.raises(SettingsError, match="--no-api serves no admin listener"):
        run(args, Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}))


def _admin_paths(settings: Settings) -> list[tuple[str, str]]:
    """Every route of the admin app (path parameters filled in), with its method."""
    app = build_admin_app(settings, publisher=Publisher(producer=StubProducer()),
                          metrics=Metrics.create())
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix", "")
        found.append((route.method, path.replace("{run_id}", "r1") + (
            "/dashboard.js" if "prefix" in info else "")))
    return found


def test_producer_settings_are_durable_and_bounded() -> None:
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
                                  "TDS_WEBHOOK_MAX_BODY_BYTES": str(4 << 20)})
    config = webhook_producer_config(settings, ack_timeout_s=2.5, linger_ms=0)
    assert config["acks"] == "all" and config["enable.idempotence"] is True
    assert config["message.timeout.ms"] == 2500 and config["linger.ms"] == 0
    assert config["message.max.bytes"] > 4 << 20


async def test_the_app_routes_webhooks_and_runs_the_publisher() -> None:
    producer = StubProducer()
    publisher = Publisher(producer=producer, poll_timeout_s=0.01)
    settings = Settings.from_env({"TDS_WEBHOOK_ALLOW_UNSIGNED": "1",
                                  "ZOHO_ORGANIZATION_ID": "1"})
    app = build_webhook_app(settings, publisher=publisher, metrics=Metrics.create(),
                            topic="raw")
    async with TestClient(TestServer(app)) as client:
        assert publisher.running
        producer.auto_ack = True
        for method, path in [("PUT", "/api/webhooks/zoho"), ("DELETE", "/api/webhooks/zoho/bills")]:
            async with client.request(method, path, data=b'{"bill": {"bill_id": "5"}}',
                                      timeout=ClientTimeout(total=5)) as resp:
                assert resp.status == 200, await resp.text()
        assert (await client.get("/api/webhooks/zoho")).status == 405
    assert not publisher.running  # closed (flushed) with the app
    assert [q.topic for q in producer.delivered] == ["raw", "raw"]


async def test_the_webhook_app_answers_404_on_every_admin_path() -> None:
    settings = Settings.from_env({"TDS_WEBHOOK_ALLOW_UNSIGNED": "1", "TDS_API_TOKEN": "t",
                                  "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"})
    admin = _admin_paths(settings)
    assert len(admin) >= 20 and ("GET", "/metrics") in admin and ("GET", "/tds-admin") in admin
    hook = build_webhook_app(settings, publisher=Publisher(producer=StubProducer()),
                             metrics=Metrics.create())
    async with TestClient(TestServer(hook)) as client:
        for method, path in admin:
            auth = {"Authorization": "Bearer t"}
            async with client.request(method, path, headers=auth) as resp:
                assert resp.status == 404, (method, path, resp.status)


async def test_the_admin_app_does_not_take_webhooks() -> None:
    settings = Settings.from_env({"TDS_WEBHOOK_ALLOW_UNSIGNED": "1",
                                  "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"})
    admin = build_admin_app(settings, publisher=Publisher(producer=StubProducer()),
                            metrics=Metrics.create())
    assert not [r for r in admin.router.routes()
                if ((r.resource and r.resource.canonical) or "").startswith("/api/webhooks")]
