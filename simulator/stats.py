"""Counters the control API reports at GET /_sim/stats."""

from __future__ import annotations

from collections import Counter
from typing import Any

WEBHOOK_COUNTERS = (
    "submitted",
    "sent",
    "delivered",
    "failed",
    "retried",
    "dropped",
    "duplicated",
    "reordered",
    "suppressed",
    "overflow",
    "unconfigured",
)


class Stats:
    """Plain counters; the simulator is single-threaded (one event loop), so no locks."""

    def __init__(self) -> None:
        self.by_status: Counter[int] = Counter()
        self.by_code: Counter[int] = Counter()
        self.by_path: Counter[str] = Counter()
        self.rate_limited: Counter[int] = Counter()
        self.oauth: Counter[str] = Counter()
        self.oauth_errors: Counter[str] = Counter()
        self.webhooks: Counter[str] = Counter()
        self.changes: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def request(self, path: str, status: int, code: int | None) -> None:
        """Count one API response."""
        self.by_status[status] += 1
        self.by_path[path] += 1
        if code is not None:
            self.by_code[code] += 1
            if status == 429:
                self.rate_limited[code] += 1

    def snapshot(self) -> dict[str, Any]:
        """Return every counter as JSON-ready dicts."""

        def keyed(counter: Counter[Any]) -> dict[str, int]:
            return {str(k): v for k, v in sorted(counter.items())}

        return {
            "requests": {
                "total": sum(self.by_status.values()),
                "by_status": keyed(self.by_status),
                "by_code": keyed(self.by_code),
                "by_endpoint": keyed(self.by_path),
            },
            "rate_limited": {str(c): self.rate_limited[c] for c in (44, 45, 1070)},
            "oauth": {
                "tokens_issued": self.oauth["tokens_issued"],
                "token_throttles": self.oauth["throttled"],
                "tokens_invalidated": self.oauth["invalidated"],
                "errors": keyed(self.oauth_errors),
            },
            "webhooks": {name: self.webhooks[name] for name in WEBHOOK_COUNTERS},
            "changes": {"total": sum(self.changes.values()), **keyed(self.changes)},
            "faults": keyed(self.faults),
        }
