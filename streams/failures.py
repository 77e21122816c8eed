"""Where a message that failed in the worker goes: the kernel's router on its topics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from streams.config import StreamsConfig
from tds import failures
from tds.failures import FailedMessage

__all__ = ["FailedMessage", "FailureRouter"]


class FailureRouter(failures.FailureRouter):
    """Routes failures with the shared retry policy onto this worker's topic names."""

    def __init__(self, config: StreamsConfig,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(policy=config.retry_policy, group=config.app_id,
                         stage=config.stage, source=config.source,
                         deadletter_topic=config.deadletter_topic,
                         retry_topic=config.retry_topic, clock=clock)
