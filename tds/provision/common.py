"""Folders, free ports, process helpers and the services.env file shared by provisioners."""

from __future__ import annotations

import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from tds.errors import ProvisionError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """The git-ignored folder that keeps jars and throwaway data between runs."""
    folder = Path(os.environ.get("TDS_CACHE_DIR", PROJECT_ROOT / ".cache"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def state_dir() -> Path:
    """The git-ignored `.tds` folder holding services.env."""
    folder = Path(os.environ.get("TDS_STATE_DIR", PROJECT_ROOT / ".tds"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (and is not a zombie we could reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return True
    return status != "Z"


def stop_pid(pid: int, timeout_s: float = 30.0) -> None:
    """SIGTERM `pid`, wait for it, SIGKILL when it ignores us."""
    if not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def wait_until(check: object, timeout_s: float, what: str, log: Path | None = None) -> None:
    """Poll `check()` until true; raise ProvisionError naming `what` (and the log) on timeout."""
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tail = ""
    if log is not None and log.is_file():
        tail = "\nlast log lines:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise ProvisionError(f"{what} not ready after {timeout_s:.0f}s{tail}")


@dataclass(frozen=True, slots=True)
class Services:
    """Addresses of the provisioned services."""

    kafka_bootstrap_servers: str
    database_url: str
    kafka_home: str = ""  # Kafka's console scripts are in its bin/ ("": not installed)

    def env_lines(self) -> str:
        """The `KEY=value` lines of services.env."""
        home = f"KAFKA_HOME={self.kafka_home}\n" if self.kafka_home else ""
        return (
            f"KAFKA_BOOTSTRAP_SERVERS={self.kafka_bootstrap_servers}\n"
            f"DATABASE_URL={self.database_url}\n{home}"
        )


def write_services_env(services: Services) -> Path:
    """Write `.tds/services.env` so later `tds` commands find the services."""
    path = state_dir() / "services.env"
    path.write_text(services.env_lines())
    return path


def recorded_value(key: str) -> str | None:
    """The value services.env holds for `key` (a stale one after a reboot is no user choice)."""
    path = state_dir() / "services.env"
    if not path.is_file():
        return None
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if name.strip() == key:
            return value.strip()
    return None
