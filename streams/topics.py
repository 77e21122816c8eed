"""Check, before faust starts, that the topics the worker needs exist and fit together."""

from __future__ import annotations

from dataclasses import replace

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

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
    return replace(config, partitions=counts[config.realtime_topic])
