"""Create the catalogue's topics and report drift between the broker and the catalogue."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from schemas.topics import TopicSpec
from tds.errors import TopicError
from tds.kafka import admin_config


@dataclass(frozen=True, slots=True)
class Drift:
    """One difference between a topic on the broker and its catalogue entry."""

    topic: str
    what: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.what} is {self.actual}, catalogue says {self.expected}"


def create_missing(bootstrap: str, specs: list[TopicSpec], timeout_s: float = 30.0) -> list[str]:
    """Create every topic of `specs` that does not exist yet; return the names created."""
    admin = AdminClient(admin_config(bootstrap))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    new = [NewTopic(s.name, num_partitions=s.partitions, replication_factor=1,
                    config=s.configs()) for s in specs if s.name not in existing]
    created: list[str] = []
    if not new:
        return created
    for name, future in admin.create_topics(new, operation_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
            created.append(name)
        except KafkaException as exc:
            error = exc.args[0]
            if not isinstance(error, KafkaError) or error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                # TOPIC_ALREADY_EXISTS means another process won the race: fine.
                raise TopicError(f"cannot create {name}: {exc}") from exc
    return sorted(created)


def check(bootstrap: str, specs: list[TopicSpec], timeout_s: float = 30.0) -> list[Drift]:
    """Compare each catalogue topic with the broker: missing, partitions, configs."""
    admin = AdminClient(admin_config(bootstrap))
    metadata = admin.list_topics(timeout=timeout_s).topics
    drift: list[Drift] = []
    present = [s for s in specs if s.name in metadata]
    for spec in specs:
        if spec.name not in metadata:
            drift.append(Drift(spec.name, "existence", "present", "missing"))
        elif len(metadata[spec.name].partitions) != spec.partitions:
            drift.append(Drift(spec.name, "partitions", str(spec.partitions),
                               str(len(metadata[spec.name].partitions))))
    resources = [ConfigResource(ResourceType.TOPIC, s.name) for s in present]
    futures = admin.describe_configs(resources) if resources else {}
    by_name = {s.name: s for s in present}
    for resource, future in futures.items():
        actual = {k: v.value for k, v in future.result(timeout=timeout_s).items()}
        for key, expected in by_name[resource.name].configs().items():
            if actual.get(key) != expected:
                drift.append(Drift(resource.name, key, expected, str(actual.get(key))))
    return drift
