"""The operator commands through `tds.cli.main`, as the README shows them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.projector.events import Workload
from tds.cli import main
from tests.integration.projections.conftest import produce


def test_verify_and_replay_commands(
    migrated: str, database_url: str, kafka_bootstrap: str, topic_factory: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    topic = topic_factory("cmd", partitions=1)
    produce(kafka_bootstrap, topic, Workload(keys=20, seed=4, types=("location",)).stream(60))
    common = ["--schema", migrated, "--entity-topic", topic, "--group", "cmd-live"]

    assert main(["verify", "--checksums", "--model", "locations", *common]) == 0
    assert "locations" in capsys.readouterr().out
    # The live projector never ran: nothing to compare, so verify fails ...
    assert main(["verify", "--model", "locations", *common]) == 1
    # ... and replay builds the tables from the log and hands its offsets to the group.
    assert main(["replay", "--model", "locations", *common]) == 0
    out = capsys.readouterr()
    assert "swapped in" in out.out and "ev/s" in out.err
    assert main(["verify", "--model", "locations", *common]) == 0
    assert "identical" in capsys.readouterr().out
