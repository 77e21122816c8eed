"""Mount the webhook gateway on an aiohttp application (other stages add their own routes)."""

from __future__ import annotations

from aiohttp import web

from producers.webhook.receiver import WebhookReceiver
from schemas.topics import RAW_REALTIME
from tds.kafka_publisher import Publishing
from tds.metrics import Metrics
from tds.settings import Settings

WEBHOOK_PATH = "/api/webhooks/zoho"
METHODS = ("POST", "PUT", "DELETE")  # the verbs a Zoho webhook may use (facts §5.2)


def add_routes(app: web.Application, *, settings: Settings, publisher: Publishing,
               metrics: Metrics, topic: str = RAW_REALTIME,
               path: str = WEBHOOK_PATH) -> WebhookReceiver:
    """Route `path` and `path/{entity}` (POST, PUT, DELETE) to a new receiver; return it."""
    receiver = WebhookReceiver(settings=settings, publisher=publisher, metrics=metrics,
                               topic=topic)
    for method in METHODS:
        app.router.add_route(method, path, receiver.handle)
        app.router.add_route(method, path + "/{entity}", receiver.handle)
    return receiver
