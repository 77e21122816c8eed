"""No secret reaches a command line: `tds up` passes settings to its children through the
environment (with `NAME_FILE`, only the path), and the demo hands the simulator its webhook
secret the same way."""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tds.cli import build_parser
from tds.commands import demo, up
from tds.settings import Settings
from tds.supervisor import Supervisor
from tests.support.waits import wait_until

SECRETS = {"ZOHO_CLIENT_SECRET": "client-secret-Pq71", "ZOHO_REFRESH_TOKEN": "1000.refresh-Zt44",
           "ZOHO_WEBHOOK_SECRET": "webhook-secret-Rk09", "TDS_API_TOKEN": "api-token-Mn62"}
SLEEPER = "import time; time.sleep(30)"


def test_tds_up_children_see_secrets_only_as_file_paths(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        (tmp_path / name).write_text(value + "\n")
        monkeypatch.setenv(f"{name}_FILE", str(tmp_path / name))
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    assert sorted(settings.secrets()) == sorted(SECRETS.values())
    specs = up.children(build_parser().parse_args(["up", "--workers", "1"]), settings)
    supervisor = Supervisor(specs, argv_prefix=(sys.executable, "-c", SLEEPER), grace_s=5)
    seen: list[bytes] = []

    def look() -> None:
        try:
            wait_until(lambda: len(supervisor.pids()) == len(specs), 30,
                       what="every child running")
            for pid in supervisor.pids().values():
                seen.append(Path(f"/proc/{pid}/cmdline").read_bytes())
                seen.append(Path(f"/proc/{pid}/environ").read_bytes())
        finally:
            supervisor.stop()

    watcher = threading.Thread(target=look)
    watcher.start()
    supervisor.run(poll_s=0.1, max_runtime_s=10)
    watcher.join()
    assert len(seen) == 2 * len(specs)
    everything = b"\n".join(seen)
    assert b"TDS_API_TOKEN_FILE=" in everything  # the environment was really read
    for value in SECRETS.values():
        assert value.encode() not in everything


def test_the_demo_gives_the_simulator_its_secret_off_the_command_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[list[str], dict[str, str]]] = []

    class FakePopen:
        def __init__(self, argv: list[str], *, env: dict[str, str], **_: Any) -> None:
            started.append((argv, dict(env)))

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    monkeypatch.setattr(demo, "_wait", lambda *_a, **_k: {
        "client_id": "c", "client_secret": "s", "refresh_token": "r", "organization_id": "1"})
    args = argparse.Namespace(sim_port=1, items=1, contacts=1, salesorders=1, invoices=1,
                              change_rate=0.0, org_id=None, port=8000, webhook_port=8001)
    env: dict[str, str] = {}
    demo._start_simulator(args, env, subprocess.DEVNULL)  # type: ignore[arg-type]  # FakePopen ignores it
    (argv, sim_env), = started
    secret = env["ZOHO_WEBHOOK_SECRET"]
    assert sim_env["ZOHO_WEBHOOK_SECRET"] == secret
    assert not any(secret in part for part in argv)
