"""`tds demo` stops everything it started on SIGTERM and SIGHUP, as on Ctrl-C; its
children log to the file it names, not to the terminal."""

from __future__ import annotations

import os
import random
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tds.provision.common import Services

TERMINAL = ("logs:", "Zoho simulator:", "dashboard:", "API token:", "metrics:", "webhooks:")


def _descendants(root: int) -> set[int]:
    """Every process under `root` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _read_until(process: subprocess.Popen[str], marker: str, timeout_s: float) -> str:
    assert process.stdout is not None
    out = ""
    deadline = time.monotonic() + timeout_s
    while marker not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if ready:
            line = process.stdout.readline()
            if not line:
                break  # the demo exited
            out += line
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_stops_the_demo_and_everything_it_started(
        services: Services, tmp_path: Path, sig: signal.Signals) -> None:
    with socket.socket() as sock, socket.socket() as hook:
        sock.bind(("127.0.0.1", 0))
        hook.bind(("127.0.0.1", 0))
        port, hook_port = sock.getsockname()[1], hook.getsockname()[1]
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": services.kafka_bootstrap_servers,
           "DATABASE_URL": services.database_url, "TDS_WORKER_COUNT": "1"}
    for name in ("ZOHO_CLIENT_ID", "ZOHO_REFRESH_TOKEN", "ZOHO_ORGANIZATION_ID"):
        env.pop(name, None)  # no Zoho credentials: the demo runs on the simulator
    log = tmp_path / "demo.log"
    demo = subprocess.Popen(
        [sys.executable, "-m", "tds.cli", "demo", "--port", str(port),
         "--webhook-port", str(hook_port), "--items", "60", "--contacts", "10",
         "--salesorders", "10", "--invoices", "10", "--change-rate", "0.5",
         "--org-id", str(random.randrange(10**10, 10**11)), "--log-file", str(log)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        out = _read_until(demo, "webhooks:", 240)
        assert f"logs:       {log.resolve()}" in out, out
        assert f"dashboard:  http://127.0.0.1:{port}/tds-admin" in out, out
        started = _descendants(demo.pid)
        assert len(started) >= 3, started  # the simulator, `tds up` and its children
        demo.send_signal(sig)
        assert demo.wait(timeout=180) == 0
        left = [pid for pid in started if _alive(pid)]
        assert left == [], left
        # The terminal shows the demo's own lines; the children's logs are in the file.
        assert all(line.startswith(TERMINAL) for line in out.splitlines()), out
        assert "tds.commands.up" in log.read_text()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(timeout=10)
        assert demo.stdout is not None
        demo.stdout.close()
