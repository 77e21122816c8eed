"""Check, before the worker starts, that the topics it needs exist and fit together, and
create its internal topics (run ledger, state changelogs) when they are missing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from streams.config import StreamsConfig
from streams.errors import ConfigError
from tds.kafka import admin_config


def required_topics(config: StreamsConfig) -> list[str]:
    """Every topic the worker reads or writes (its internal topics excepted)."""
    retries = [config.retry_topic(level)
               for level in range(1, config.retry_policy.max_attempts + 1)]
    return [config.realtime_topic, config.bulk_topic, config.synced_topic,
            config.sync_runs_topic, config.deadletter_topic, *retries]


def checked(config: StreamsConfig, timeout_s: float = 15.0) -> StreamsConfig:
    """The config with `partitions` read from the raw topics; ConfigError naming what is
    missing or mismatched (`tds topics create` makes the catalogue's topics)."""
    admin = AdminClient(admin_config(config.bootstrap))
    try:
        metadata = admin.list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise ConfigError(f"cannot list topics on {config.bootstrap}: {exc}") from exc
    missing = [name for name in required_topics(config) if name not in metadata]
    if missing:
        raise ConfigError(f"missing topics: {', '.join(missing)} (run `tds topics create`)")
    counts = {name: len(metadata[name].partitions)
              for name in (config.realtime_topic, config.bulk_topic, config.synced_topic)}
    if len(set(counts.values())) != 1:
        shown = ", ".join(f"{name}={n}" for name, n in counts.items())
        raise ConfigError(f"the raw topics and the synced topic need equal partition counts "
                          f"(a key keeps its partition end to end): {shown}")
    config = replace(config, partitions=counts[config.realtime_topic])
    _internal(admin, config, metadata, timeout_s)
    return config


_WEEK_MS = 7 * 86_400_000


def internal_topics(config: StreamsConfig) -> dict[str, dict[str, str]]:
    """The worker's own topics and their settings (one partition per raw partition)."""
    compact = {"cleanup.policy": "compact"}
    return {config.ledger_topic: {"cleanup.policy": "delete", "retention.ms": str(_WEEK_MS)},
            config.versions_changelog: compact, config.runs_changelog: compact}


def _internal(admin: AdminClient, config: StreamsConfig, metadata: dict[str, Any],
              timeout_s: float) -> None:
    wanted = internal_topics(config)
    for name in (config.versions_changelog, config.runs_changelog):
        found = metadata.get(name)
        if found is not None and len(found.partitions) < config.partitions:
            raise ConfigError(f"{name} has {len(found.partitions)} partitions, fewer than the "
                              f"raw topics' {config.partitions}: delete it (the state is "
                              "rebuilt only from a changelog of as many partitions)")
    new = [NewTopic(name, config.partitions, config.replication, config=settings)
           for name, settings in wanted.items() if name not in metadata]
    if not new:
        return
    for name, future in admin.create_topics(new, operation_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            error = exc.args[0]
            if getattr(error, "code", lambda: None)() != KafkaError.TOPIC_ALREADY_EXISTS:
                # (TOPIC_ALREADY_EXISTS: another worker created it first)
                raise ConfigError(f"cannot create {name}: {exc}") from exc
