"""`make bench` is one run: a full run starts from an empty bench/out and stamps what each
benchmark writes with the run's id, which the report checks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.report import runner


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(runner, "OUT", tmp_path)
    monkeypatch.setattr(runner, "RUNS", tmp_path / "runs.json")
    monkeypatch.setattr(runner, "BENCHES", (
        runner.Bench("fake", "fake.module", (), (), "fake.json", 60),))

    def bench_writes(command: list[str], **_: Any) -> subprocess.CompletedProcess[bytes]:
        (tmp_path / "fake.json").write_text(json.dumps({"figure": 1}))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", bench_writes)
    return tmp_path


def test_a_full_run_starts_empty_and_stamps_its_outputs(out: Path) -> None:
    (out / "older.json").write_text("{}")
    (out / "older.md").write_text("")
    log = runner.run_all(None, quick=True)
    assert sorted(p.name for p in out.iterdir()) == ["fake.json", "runs.json"]
    assert json.loads((out / "fake.json").read_text())["run_id"] == log["run_id"]
    assert log["benchmarks"]["fake"]["run_id"] == log["run_id"]


def test_a_partial_run_keeps_the_others_under_their_own_run(out: Path) -> None:
    (out / "runs.json").write_text(json.dumps(
        {"benchmarks": {"other": {"run_id": "earlier", "output": "other.json"}}}))
    (out / "other.json").write_text(json.dumps({"run_id": "earlier"}))
    log = runner.run_all(["fake"], quick=True)
    assert (out / "other.json").is_file()
    assert {n: e["run_id"] for n, e in log["benchmarks"].items()} == {
        "other": "earlier", "fake": log["run_id"]}
