"""Topics for one stream test, and where its workers write their logs."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.integration.streams.support import Topics, drop_retry_topics, make_topics


@pytest.fixture
def stream_topics(kafka_bootstrap: str, topic_factory: Callable[..., str]) -> Iterator[Topics]:
    """The raw, synced, runs, dead-letter and retry topics of one test (3 partitions)."""
    topics = make_topics(kafka_bootstrap, topic_factory)
    yield topics
    drop_retry_topics(kafka_bootstrap, topics)


@pytest.fixture(params=["faust", "batched"])
def engine(request: pytest.FixtureRequest) -> str:
    """Each contract test runs on both stream engines."""
    engine: str = request.param
    return engine
