"""The topic catalogue of DESIGN.md: names, partitions, cleanup and retention."""

from __future__ import annotations

from dataclasses import dataclass, field

RAW_REALTIME = "zoho.raw.realtime"
RAW_BULK = "zoho.raw.bulk"
ENTITY_SYNCED = "tds.entity.synced"
SYNC_RUNS = "tds.sync.runs"
DEADLETTER = "tds.deadletter"
COMMANDS = "tds.commands"
OUTBOUND = "tds.outbound"
OUTBOUND_RESULTS = "tds.outbound.results"
RETRY_PREFIX = "tds.retry."

_DAY_MS = 24 * 3600 * 1000
FOREVER = -1


def retry_topic(level: int) -> str:
    """Name of retry level `level` (1-based)."""
    if level < 1:
        raise ValueError(f"retry level must be >= 1, got {level}")
    return f"{RETRY_PREFIX}{level}"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic of the contract and the broker configs it must have."""

    name: str
    partitions: int
    cleanup: str
    retention_ms: int
    ce_types: tuple[str, ...]
    doc: str
    extra: dict[str, str] = field(default_factory=dict)

    def configs(self) -> dict[str, str]:
        """Broker-side topic configs (what `tds topics check` compares)."""
        configs = {"cleanup.policy": self.cleanup, "retention.ms": str(self.retention_ms)}
        configs.update(self.extra)
        return configs


def catalogue(partitions: int = 6, retry_levels: int = 5) -> list[TopicSpec]:
    """Every TDS topic; retry topics follow TDS_RETRY_MAX_ATTEMPTS."""
    specs = [
        TopicSpec(RAW_REALTIME, partitions, "delete", FOREVER, ("zoho.webhook.received",),
                  "raw webhook events"),
        TopicSpec(RAW_BULK, partitions, "delete", FOREVER, ("zoho.record.polled",),
                  "raw polled records (stock, incremental, full, manual)"),
        TopicSpec(ENTITY_SYNCED, partitions, "compact", FOREVER, ("tds.entity.synced",),
                  "one normalised record per key, upsert or delete",
                  {"min.compaction.lag.ms": str(_DAY_MS)}),
        TopicSpec(SYNC_RUNS, partitions, "delete", 30 * _DAY_MS,
                  ("tds.sync.started", "tds.sync.completed", "tds.sync.failed"),
                  "sync run lifecycle"),
        TopicSpec(DEADLETTER, partitions, "delete", FOREVER, ("tds.deadletter.added",),
                  "failed messages with error headers"),
        TopicSpec(COMMANDS, 1, "delete", 7 * _DAY_MS, ("tds.command",),
                  "manual sync, stock sync, dead-letter retry"),
        # Commands are replayable for a week (a writer down over a weekend catches up);
        # the writer's PostgreSQL ledger, not the topic, is the record of what was applied.
        TopicSpec(OUTBOUND, partitions, "delete", 7 * _DAY_MS, ("tds.outbound.requested",),
                  "write-back commands from the ERP (create, update, delete, actions, "
                  "stock adjustments)"),
        TopicSpec(OUTBOUND_RESULTS, partitions, "delete", 30 * _DAY_MS,
                  ("tds.outbound.applied", "tds.outbound.rejected", "tds.outbound.conflict"),
                  "write-back outcomes: applied, rejected or conflict"),
    ]
    specs += [
        TopicSpec(retry_topic(level), partitions, "delete", 7 * _DAY_MS,
                  ("tds.retry.scheduled",), f"retry level {level}")
        for level in range(1, retry_levels + 1)
    ]
    return specs


def entity_key(org_id: str, entity_type: str, entity_id: str) -> bytes:
    """The key of every message about one Zoho record: `org:type:id`."""
    return f"{org_id}:{entity_type}:{entity_id}".encode()


def parse_key(key: bytes) -> tuple[str, str, str]:
    """Split a key made by `entity_key`; raises ValueError when it is not one."""
    org_id, entity_type, entity_id = key.decode().split(":", 2)
    if not (org_id and entity_type and entity_id):
        raise ValueError(f"malformed key {key!r}")
    return org_id, entity_type, entity_id
