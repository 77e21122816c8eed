"""The `tds` command: subcommands are discovered; only `sim` passes unknown options on."""

from __future__ import annotations

import pytest

from tds.cli import build_parser, command_names, main


def test_commands_are_discovered() -> None:
    assert {"migrate", "topics", "sim", "tail"} <= set(command_names())


def test_sim_passes_its_options_through(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(argv)
        return 0

    monkeypatch.setattr("simulator.cli.main", fake_main)
    assert main(["sim", "--port", "0", "--items", "10"]) == 0
    assert seen == [["--port", "0", "--items", "10"]]


def test_other_commands_refuse_unknown_options() -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        main(["migrate", "--bogus"])
    assert parser.prog == "tds"
