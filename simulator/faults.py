"""Run-time switchable faults for API responses."""

from __future__ import annotations

import asyncio
import random

from simulator.config import FaultConfig
from simulator.errors import ZohoError
from simulator.stats import Stats


class Faults:
    """Decides, per API request, whether to delay, hang, fail or corrupt the response."""

    def __init__(self, *, config: FaultConfig, rng: random.Random, stats: Stats) -> None:
        self.config = config
        self._rng = rng
        self._stats = stats

    async def before(self) -> None:
        """Apply latency, hangs and 5xx before the handler runs."""
        cfg = self.config
        if cfg.latency_ms > 0:
            self._stats.faults["latency"] += 1
            await asyncio.sleep(cfg.latency_ms / 1000)
        if cfg.timeout_rate and self._rng.random() < cfg.timeout_rate:
            # Hang past the client's timeout, then answer normally, as an overloaded server does.
            self._stats.faults["timeout"] += 1
            await asyncio.sleep(cfg.timeout_hang_s)
        if cfg.error_rate and self._rng.random() < cfg.error_rate:
            self._stats.faults["error"] += 1
            raise ZohoError(500, 1000, "Internal Error")

    def corrupt(self, body: bytes) -> bytes:
        """Return a list page's body, possibly cut mid-JSON or made syntactically invalid."""
        cfg = self.config
        if not (cfg.truncate_rate or cfg.malformed_rate):
            return body
        roll = self._rng.random()
        if roll < cfg.truncate_rate:
            self._stats.faults["truncated"] += 1
            return body[: max(1, int(len(body) * self._rng.uniform(0.2, 0.8)))]
        if roll < cfg.truncate_rate + cfg.malformed_rate:
            self._stats.faults["malformed"] += 1
            # A doubled comma and a dangling tail: complete bytes, invalid JSON.
            return body.replace(b',"', b',,"', 1)[:-1] + b",}"
        return body

    def refusal(self, exc: ZohoError) -> ZohoError:
        """A write's 400 refusal, now and then answered with HTTP 200 and the same body."""
        rate = self.config.refusal_200_rate
        if exc.status != 400 or not rate or self._rng.random() >= rate:
            return exc
        self._stats.faults["refusal_200"] += 1
        return ZohoError(200, exc.code, exc.message)
