"""What one stream worker is wired to: topic names, app id, guarantee, tuning.

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
    """Settings of one worker process; `from_settings` fills them from the environment."""

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
    processing_guarantee: str = "at_least_once"
    # Batching: a batch is whatever the consumer has at hand, up to batch_max messages.
    batch_max: int = 1000
    # The group consumer's local prefetch queue (shared by its partitions): bounded, so a
    # bulk backlog waits in Kafka (librdkafka's default is 100,000 messages per
    # partition); realtime events have a consumer of their own and never wait behind it.
    queued_min_messages: int = 10_000
    queued_max_kbytes: int = 16_384
    # Faust engine: most bytes fetched per partition and request (see streams/faust_app.py).
    fetch_max_kbytes: int = 64
    fetch_max_wait_ms: int = 100
    # Bigger batches cost librdkafka less CPU (measured: ~8k → ~10k events/s on 2 shared
    # cores); a webhook's output waits at most this long in the producer.
    producer_linger_ms: int = 20
    # Bulk input pauses while the projector group lags more than this on the synced topic
    # (streams/backpressure.py): the backlog then waits in the raw bulk topic, behind which
    # realtime events do not queue. 0: never pause.
    downstream_group: str = "tds-projector"
    max_downstream_lag: int = 2000
    commit_interval_s: float = 1.0  # checkpoint period: outputs, then state, then offsets
    session_timeout_s: float = 10.0  # how long a killed worker holds its partitions
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
        """Whether outputs, state writes and offsets commit in one Kafka transaction."""
        return self.processing_guarantee == "exactly_once"

    @property
    def ledger_topic(self) -> str:
        """The app's internal topic of sync-run counts, keyed by run id."""
        return f"{self.app_id}-run-ledger"

    @property
    def versions_changelog(self) -> str:
        """The compacted topic behind the versions state (faust's name for its table)."""
        return f"{self.app_id}-versions-changelog"

    @property
    def runs_changelog(self) -> str:
        """The compacted topic behind the sync-runs state."""
        return f"{self.app_id}-runs-changelog"

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
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]  # keys are this class's fields
