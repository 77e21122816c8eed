"""What the API handlers share: settings, the database pool, Kafka views, the command sink."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from aiohttp import web

from api.history import History
from api.kafka_state import KafkaInspector
from schemas.cloudevents import Headers
from schemas.topics import (
    COMMANDS,
    DEADLETTER,
    ENTITY_SYNCED,
    OUTBOUND,
    RAW_BULK,
    RAW_REALTIME,
    SYNC_RUNS,
    retry_topic,
)
from tds.metrics import Metrics
from tds.settings import Settings


class CommandSink(Protocol):
    """Publishes one message and waits for Kafka's ack (the web process's publisher)."""

    async def publish(self, topic: str, value: bytes, *, key: bytes | None = None,
                      headers: Headers | None = None, partition: int = -1) -> Any: ...


WORKER_GROUP = "tds-streams"
PROJECTOR_GROUP = "tds-projector"
WRITER_GROUP = "tds-writer"


def default_groups(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Consumer groups of a TDS deployment and the topics each one reads."""
    retries = tuple(retry_topic(i) for i in range(1, settings.retry_max_attempts + 1))
    return {
        WORKER_GROUP: (RAW_REALTIME, RAW_BULK),
        PROJECTOR_GROUP: (ENTITY_SYNCED, SYNC_RUNS, DEADLETTER),
        "tds-relay": retries,
        "tds-pollers": (COMMANDS,),
        "tds-images": (ENTITY_SYNCED,),
        WRITER_GROUP: (OUTBOUND,),
    }




@dataclass(slots=True)
class TtlCache:
    """Answers kept for `ttl_s` seconds (TDS_ENABLE_CACHE), so a busy dashboard is cheap."""

    ttl_s: float
    enabled: bool
    _entries: dict[str, tuple[float, Any]] = field(default_factory=dict)

    async def get(self, key: str, compute: Callable[[], Awaitable[Any]]) -> Any:
        """The cached answer for `key`, or a fresh one."""
        now = time.monotonic()
        if self.enabled:
            hit = self._entries.get(key)
            if hit is not None and now - hit[0] < self.ttl_s:
                return hit[1]
        value = await compute()
        if self.enabled:
            self._entries[key] = (now, value)
        return value


@dataclass(slots=True)
class ApiContext:
    """Collaborators of every handler; built once by `tds web`."""

    settings: Settings
    pool: asyncpg.Pool | None
    inspector: KafkaInspector
    sink: CommandSink
    metrics: Metrics
    history: History
    groups: Mapping[str, Sequence[str]]
    org_id: str
    cache: TtlCache
    commands_topic: str = COMMANDS
    outbound_topic: str = OUTBOUND
    consumed_samples: list[tuple[float, int]] = field(default_factory=list)

    def db(self) -> asyncpg.Pool:
        """The pool, opened when the web process started."""
        if self.pool is None:
            raise RuntimeError("the API's database pool is not open yet")
        return self.pool


API = web.AppKey("tds.api", ApiContext)
