"""Per-organization API quotas: per minute, per day and in-flight, on fixed windows."""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.clock import SimClock, org_day
from simulator.config import LimitConfig
from simulator.errors import ZohoError

# The exact texts are unconfirmed (ZOHO_API_FACTS 2.3); only 1070's fragment is attested.
MESSAGES = {
    44: "You have made too many requests per minute. Please try again after some time.",
    45: "You have reached the maximum number of API requests allowed per day for your plan.",
    1070: "You have reached the maximum number of in process requests. Please try again later.",
}


@dataclass
class _Usage:
    minute: int = -1
    minute_count: int = 0
    day: int = -1
    day_count: int = 0
    in_flight: int = 0


class RateLimiter:
    """Admits or refuses API requests; refused requests do not use quota."""

    def __init__(self, *, limits: LimitConfig, clock: SimClock, offset_minutes: int) -> None:
        self.limits = limits
        self._clock = clock
        self._offset = offset_minutes
        self._usage: dict[str, _Usage] = {}

    def reset(self) -> None:
        """Start fresh windows (in-flight requests stay counted until they finish)."""
        for usage in self._usage.values():
            usage.minute = usage.day = -1
            usage.minute_count = usage.day_count = 0

    def _roll(self, org: str) -> _Usage:
        now = self._clock.now()
        usage = self._usage.setdefault(org, _Usage())
        minute = int(now // 60)
        if minute != usage.minute:
            usage.minute, usage.minute_count = minute, 0
        day = org_day(now, self._offset)
        if day != usage.day:
            usage.day, usage.day_count = day, 0
        return usage

    def acquire(self, org: str) -> None:
        """Count one request against org's quota or raise the matching 429."""
        usage = self._roll(org)
        if usage.day_count >= self.limits.daily:
            raise ZohoError(429, 45, MESSAGES[45])
        if usage.minute_count >= self.limits.per_minute:
            raise ZohoError(429, 44, MESSAGES[44])
        if usage.in_flight >= self.limits.concurrency:
            raise ZohoError(429, 1070, MESSAGES[1070])
        usage.day_count += 1
        usage.minute_count += 1
        usage.in_flight += 1

    def release(self, org: str) -> None:
        """Mark one admitted request of org as finished."""
        usage = self._usage.get(org)
        if usage is not None and usage.in_flight > 0:
            usage.in_flight -= 1

    def headers(self, org: str) -> dict[str, str]:
        """Return the X-Rate-Limit-* headers for a successful response."""
        usage = self._roll(org)
        now = self._clock.now()
        reset = max(1, math.ceil((usage.minute + 1) * 60 - now))
        return {
            "X-Rate-Limit-Limit": str(self.limits.per_minute),
            "X-Rate-Limit-Remaining": str(max(0, self.limits.per_minute - usage.minute_count)),
            "X-Rate-Limit-Reset": str(reset),
        }

    def snapshot(self) -> dict[str, object]:
        """Return limits and current usage for the control API."""
        return {
            "per_minute": self.limits.per_minute,
            "daily": self.limits.daily,
            "concurrency": self.limits.concurrency,
            "usage": {
                org: {"minute": u.minute_count, "day": u.day_count, "in_flight": u.in_flight}
                for org, u in self._usage.items()
            },
        }
