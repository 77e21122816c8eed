"""What a poller process needs to know: topics, intervals, windows, identity."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from producers.zoho.entities import SYNC_TYPES
from schemas.topics import COMMANDS, RAW_BULK, SYNC_RUNS
from tds.settings import Settings

MAX_PER_PAGE = 200


def default_owner() -> str:
    """host:pid, naming the process that claims a run."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class PollTopics:
    """Topic names (injectable so tests use unique ones)."""

    raw: str = RAW_BULK
    runs: str = SYNC_RUNS
    commands: str = COMMANDS


@dataclass(frozen=True, slots=True)
class PollerConfig:
    """Tuning of the pollers; `from_settings` reads the TDS_* variables."""

    org_id: str
    per_page: int = MAX_PER_PAGE
    auto_sync: bool = True
    stock_interval_s: float = 1800.0
    reconcile_interval_s: float = 300.0
    # Deletes leave no trace in Zoho's lists and their webhooks can be lost, so only a full
    # sync (comparing ids) finds them; 0 turns the scheduled one off.
    full_interval_s: float = 86_400.0
    # Re-read this far behind the cursor: catches records committed late with an older
    # last_modified_time; duplicates are dropped downstream by the version rule.
    overlap_s: float = 300.0
    stock_full_every_s: float = 86_400.0  # a stock sync re-reads every item this often
    heartbeat_s: float = 10.0
    stale_after_s: float = 90.0  # a started run silent this long belongs to a dead process
    tick_s: float = 1.0  # how often the scheduler looks at the clock and the lock
    group: str = "tds-pollers"
    owner: str = field(default_factory=default_owner)
    entity_types: tuple[str, ...] = SYNC_TYPES
    verify_deletes: bool = True  # re-check a candidate delete by id before reporting it

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> PollerConfig:
        """TDS_BATCH_SIZE (page size, at most 200), TDS_ENABLE_AUTO_SYNC and the intervals."""
        if not settings.zoho_organization_id:
            from producers.zoho.errors import ZohoConfigError

            raise ZohoConfigError("ZOHO_ORGANIZATION_ID is not set")
        values: dict[str, object] = {
            "org_id": settings.zoho_organization_id,
            "per_page": min(settings.batch_size, MAX_PER_PAGE),
            "auto_sync": settings.enable_auto_sync,
            "stock_interval_s": settings.stock_sync_interval_min * 60.0,
            "reconcile_interval_s": settings.reconcile_interval_min * 60.0,
            "full_interval_s": settings.full_sync_interval_h * 3600.0,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]  # keys are this class's fields
