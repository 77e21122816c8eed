"""A throwaway PostgreSQL cluster from the machine's Debian packages, on 127.0.0.1.

initdb refuses to run as root, so when we are root the cluster belongs to the `postgres`
system user and every server command runs through `runuser`.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tds.errors import ProvisionError
from tds.provision.common import (
    PROJECT_ROOT,
    cache_dir,
    free_port,
    pid_alive,
    port_open,
    recorded_value,
    wait_until,
)

logger = logging.getLogger(__name__)

DB_NAME = "tds"
DB_USER = "tds"


def _bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    found = candidates[0] if candidates else shutil.which(name)
    if not found:
        raise ProvisionError(
            f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql)"
        )
    return found


def _as_owner(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


def _run(args: list[str], what: str, timeout_s: float = 120.0) -> str:
    result = subprocess.run(_as_owner(args), capture_output=True, text=True,
                            timeout=timeout_s, check=False, cwd=tempfile.gettempdir())
    if result.returncode != 0:
        raise ProvisionError(f"{what} failed (exit {result.returncode}):\n"
                             f"{result.stdout}{result.stderr}")
    return result.stdout


def _postgres_can_reach(folder: Path) -> bool:
    result = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(folder)],
                            capture_output=True, check=False, timeout=10)
    return result.returncode == 0


def pg_home() -> Path:
    """Folder of the throwaway cluster: the cache folder when the server's user can reach it.

    As root the server runs as `postgres`, which cannot enter a private folder (a
    `mktemp -d` checkout, a home directory); then the cluster lives in the temp folder,
    named after this checkout so two checkouts never share one.
    """
    preferred = cache_dir() / "postgres"
    if os.geteuid() != 0 or _postgres_can_reach(cache_dir()):
        return preferred
    tag = hashlib.sha256(str(PROJECT_ROOT).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"tds-postgres-{tag}"


def _state_file() -> Path:
    return pg_home() / "server.json"


def dsn_for(port: int) -> str:
    """The DSN of the provisioned database."""
    return f"postgresql://{DB_USER}@127.0.0.1:{port}/{DB_NAME}"


def _reachable(dsn: str) -> bool:
    result = subprocess.run(["psql", dsn, "-Atqc", "select 1"], capture_output=True,
                            text=True, timeout=15, check=False)
    return result.returncode == 0 and result.stdout.strip() == "1"


def _prepare_home() -> Path:
    home = pg_home()
    data = home / "data"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(home, owner.pw_uid, owner.pw_gid)
    return data


def start_server(timeout_s: float = 60.0) -> str:
    """initdb a fresh cluster, start it on a free port, create the tds role and database."""
    data = _prepare_home()
    home = data.parent
    _run([_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
          "--no-locale"], "initdb")
    port = free_port()
    settings = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={home} "
        "-c fsync=on -c max_connections=200 -c shared_buffers=256MB "
        "-c synchronous_commit=on -c max_locks_per_transaction=256"
    )
    _run([_bin("pg_ctl"), "-D", str(data), "-l", str(home / "server.log"), "-o", settings,
          "-w", "-t", str(int(timeout_s)), "start"], "pg_ctl start", timeout_s + 10)
    admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    for sql in (f"CREATE ROLE {DB_USER} LOGIN SUPERUSER",
                f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}"):
        subprocess.run(["psql", admin, "-qc", sql], capture_output=True, check=True, timeout=30)
    pid = int((data / "postmaster.pid").read_text().split()[0])
    _state_file().write_text(json.dumps({"port": port, "pid": pid}))
    dsn = dsn_for(port)
    wait_until(lambda: _reachable(dsn), timeout_s, f"PostgreSQL on port {port}",
               home / "server.log")
    logger.info("PostgreSQL running on 127.0.0.1:%d (pid %d)", port, pid)
    return dsn


def running_server(wait_s: float = 60.0) -> str | None:
    """The DSN of the server a previous call started, starting it again when it stopped.

    A server that is restarting (pid alive, not answering yet) is waited for, and a stopped
    one is started on its kept data and port: a cluster is never wiped because it was
    caught mid-restart.
    """
    path = _state_file()
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    dsn = dsn_for(state["port"])
    data = pg_home() / "data"
    if not pid_alive(state["pid"]) and (data / "PG_VERSION").is_file():
        logger.info("PostgreSQL on port %d is stopped; starting it on its data", state["port"])
        settings = (
            f"-c listen_addresses=127.0.0.1 -c port={state['port']} "
            f"-c unix_socket_directories={pg_home()} -c max_connections=200 "
            "-c shared_buffers=256MB -c max_locks_per_transaction=256"
        )
        with contextlib.suppress(ProvisionError):  # a concurrent start may have won
            _run([_bin("pg_ctl"), "-D", str(data), "-l", str(pg_home() / "server.log"),
                  "-o", settings, "-w", "-t", "60", "start"], "pg_ctl start", 70)
        pid_file = data / "postmaster.pid"
        if pid_file.is_file():
            state["pid"] = int(pid_file.read_text().split()[0])
            path.write_text(json.dumps(state))
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if port_open("127.0.0.1", state["port"]) and _reachable(dsn):
            return dsn
        if not (data / "PG_VERSION").is_file():
            return None
        time.sleep(0.5)
    return None


def restart_server(timeout_s: float = 60.0) -> None:
    """Restart the provisioned server in place, keeping its data (for fault tests)."""
    data = pg_home() / "data"
    # -l: without a log file the new server would hold our stdout pipe open forever.
    _run([_bin("pg_ctl"), "-D", str(data), "-l", str(pg_home() / "server.log"), "-m", "fast",
          "-w", "-t", str(int(timeout_s)), "restart"], "pg_ctl restart", timeout_s + 10)
    state = json.loads(_state_file().read_text())
    state["pid"] = int((data / "postmaster.pid").read_text().split()[0])
    _state_file().write_text(json.dumps(state))


def ensure_postgres() -> str:
    """DSN of a reachable PostgreSQL: the configured one, a running one, or a new one."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        if _reachable(configured):
            return configured
        if configured != recorded_value("DATABASE_URL"):
            raise ProvisionError(
                "DATABASE_URL is set but that server does not answer; unset it to let TDS "
                "start its own PostgreSQL, or start that server"
            )
    return running_server() or start_server()


def stop_postgres() -> bool:
    """Stop the server this project started; True when one was running."""
    path = _state_file()
    data = pg_home() / "data"
    if not path.is_file():
        return False
    running = pid_alive(json.loads(path.read_text())["pid"])
    if running:
        _run([_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], "pg_ctl stop")
    path.unlink(missing_ok=True)
    return running
