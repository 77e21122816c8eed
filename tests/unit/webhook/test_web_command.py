"""`tds web`: its parser, its producer settings, and the app it builds."""

from __future__ import annotations

from aiohttp import ClientTimeout
from aiohttp.test_utils import TestClient, TestServer

from producers.publisher import Publisher
from tds.cli import build_parser
from tds.commands.web import build_app, webhook_producer_config
from tds.metrics import Metrics
from tds.settings import Settings
from tests.unit.webhook.stubs import StubProducer


def test_defaults_are_the_guides_port_on_loopback() -> None:
    args = build_parser().parse_args(["web"])
    assert (args.host, args.port, args.topic, args.kafka_poll) == (
        "127.0.0.1", 8000, "zoho.raw.realtime", "thread")


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
    app = build_app(settings, publisher=publisher, metrics=Metrics.create(), topic="raw",
                    with_api=False)
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
