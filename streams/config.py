"""What one stream worker is wired to: topic names, app id, store, guarantee, tuning.

Everything is injectable so tests run side by side on unique topics and app ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.topics import (
    DEADLETTER,
    ENTITY_SYNCED,
    RAW_BULK,
    RAW_REALTIME,
    RETRY_PREFIX,
    SYNC_RUNS,
)
from tds.retry import RetryPolicy
from tds.settings import Settings

GUARANTEES = ("at_least_once", "exactly_once")


@dataclass(frozen=True, slots=True)
class StreamsConfig:
    """Settings of the faust app; `from_settings` fills them from the environment."""

    bootstrap: str
    app_id: str = "tds-streams"
    realtime_topic: str = RAW_REALTIME
    bulk_topic: str = RAW_BULK
    synced_topic: str = ENTITY_SYNCED
    sync_runs_topic: str = SYNC_RUNS
    deadletter_topic: str = DEADLETTER
    retry_prefix: str = RETRY_PREFIX
    partitions: int = 6
    replication: int = 1
    retry_policy: RetryPolicy = field(default_factory=lambda: RetryPolicy((60.0,) * 5))
    store: str = "rocksdb://"
    data_dir: str = ".tds/streams"
    processing_guarantee: str = "at_least_once"
    realtime_concurrency: int = 1
    bulk_concurrency: int = 1
    # Fetch tuning: small polls and buffers keep a bulk backlog from queueing in front of
    # realtime events inside one worker (faust pauses a partition whose buffer is full).
    max_poll_records: int = 200
    stream_buffer_maxsize: int = 1000
    producer_linger_ms: int = 5
    commit_interval_s: float = 1.0
    session_timeout_s: float = 30.0  # how long a killed worker holds its partitions
    run_idle_timeout_s: float = 900.0
    run_check_interval_s: float = 10.0
    stage: str = "streams"
    source: str = "/tds/streams"

    def __post_init__(self) -> None:
        if self.processing_guarantee not in GUARANTEES:
            raise ValueError(f"processing_guarantee must be one of {', '.join(GUARANTEES)}, "
                             f"got {self.processing_guarantee!r}")
        if self.realtime_topic == self.bulk_topic:
            raise ValueError("the realtime and bulk topics must differ")

    @property
    def exactly_once(self) -> bool:
        """Whether outputs, table writes and offsets commit in one Kafka transaction."""
        return self.processing_guarantee == "exactly_once"

    @property
    def ledger_topic(self) -> str:
        """The app's internal topic of sync-run counts, keyed by run id."""
        return f"{self.app_id}-run-ledger"

    def retry_topic(self, level: int) -> str:
        """Name of retry level `level` (1-based)."""
        return f"{self.retry_prefix}{level}"

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> StreamsConfig:
        """Defaults from the environment's settings; keyword overrides win."""
        values: dict[str, object] = {
            "bootstrap": settings.kafka,
            "partitions": settings.topic_partitions,
            "retry_policy": RetryPolicy(settings.retry_delays_s),
            "realtime_concurrency": settings.worker_threads,
            "bulk_concurrency": settings.worker_threads,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]  # keys are this class's fields
