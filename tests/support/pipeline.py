"""The whole system against the simulator: start it and talk to it (`truth` compares).

Shared by `tests/e2e/test_pipeline.py` and the chaos scenario (`tests/chaos/`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.error import URLError
from urllib.request import Request, urlopen

import orjson

from tds.commands.demo import joined_run
from tds.provision.common import Services

TOKEN = "e2e-token-0123456789"
WEBHOOK_SECRET = "e2e-webhook-secret-42"
def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http(method: str, url: str, body: Any = None, token: str | None = None,
         timeout_s: float = 30) -> Any:
    """One JSON request; raises URLError/HTTPError/OSError on failure."""
    request = Request(url, data=orjson.dumps(body) if body is not None else None,  # noqa: S310
                      method=method, headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urlopen(request, timeout=timeout_s) as response:  # noqa: S310  # loopback only
        return orjson.loads(response.read())


def full_sync(web: str, timeout_s: float) -> dict[str, Any]:
    """Request a full sync and wait (bounded) until it, or the run it joined (one already
    covering it), completed or failed; the last answer about it."""
    deadline = time.monotonic() + timeout_s
    run = ""
    while not run and time.monotonic() < deadline:
        try:
            run = http("POST", f"{web}/api/tds/sync", {"source": "zoho"}, TOKEN)["run_id"]
        except (URLError, OSError, ValueError, KeyError):
            time.sleep(1)
    status: dict[str, Any] = {}
    while run and time.monotonic() < deadline:
        try:
            status = http("GET", f"{web}/api/tds/sync-runs/{run}", token=TOKEN)
        except (URLError, OSError, ValueError):
            status = {}
        run = joined_run(status) or run
        if status.get("status") in ("completed", "failed"):
            break
        time.sleep(1)
    return status


def wait_http(url: str, timeout_s: float, token: str | None = None) -> Any:
    """GET `url` until it answers 2xx (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return http("GET", url, token=token, timeout_s=10)
        except (URLError, OSError, ValueError):
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {timeout_s}s")


def zoho_time(text: str) -> datetime:
    """Zoho's `last_modified_time` as an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")


def is_stale(stored_at: datetime, zoho_at: datetime, raw: dict[str, Any],
              zoho: dict[str, Any]) -> bool:
    """Older than Zoho *and* some field TDS holds differs from Zoho's.

    A change that only moved last_modified_time (a touch, or a field the list view does
    not show) is unchanged content: the version rule does not emit it, so TDS keeps the
    earlier time. Same definition as tests/e2e/test_pipeline.py.
    """
    if stored_at >= zoho_at:
        return False
    return any(zoho.get(k) != v for k, v in raw.items() if k != "last_modified_time")


@dataclass(frozen=True)
class System:
    """A running simulator and `tds up` tree."""

    org: str
    sim_url: str
    web_url: str  # the admin listener: admin API, BFF, dashboard, /metrics
    webhook_url: str  # the webhook listener: POST {webhook_url}/api/webhooks/zoho
    up: subprocess.Popen[bytes]
    sim: subprocess.Popen[bytes]


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def running_system(services: Services, *, org: str, workers: int = 2, projectors: int = 1,
                   sim_args: tuple[str, ...] = (), extra_env: dict[str, str] | None = None,
                   log: Path | None = None) -> Iterator[System]:
    """Start the simulator and `tds up` against `services`; stop both afterwards."""
    web_port, hook_port, sim_port = free_port(), free_port(), free_port()
    sim_url, web_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{web_port}"
    webhook_url = f"http://127.0.0.1:{hook_port}"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": services.kafka_bootstrap_servers,
           "DATABASE_URL": services.database_url}
    out: IO[bytes] | int = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    sim = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", str(sim_port), "--org-id", org,
         "--webhook-url", f"{webhook_url}/api/webhooks/zoho", "--webhook-secret", WEBHOOK_SECRET,
         *sim_args], env=env, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    up: subprocess.Popen[bytes] | None = None
    try:
        creds = wait_http(f"{sim_url}/_sim/credentials", 60)
        env.update({
            "ZOHO_API_BASE": sim_url, "ZOHO_CLIENT_ID": creds["client_id"],
            "ZOHO_CLIENT_SECRET": creds["client_secret"],
            "ZOHO_REFRESH_TOKEN": creds["refresh_token"], "ZOHO_ORGANIZATION_ID": org,
            "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET, "TDS_API_TOKEN": TOKEN,
            "TDS_RECONCILE_INTERVAL_MINUTES": "0.1", "TDS_STOCK_SYNC_INTERVAL_MINUTES": "600",
            "TDS_FULL_SYNC_INTERVAL_HOURS": "0.01",  # every 36 s: finds lost deletes
            "TDS_RETRY_BACKOFF_SECONDS": "1",
            # Each run's simulator starts a fresh daily quota, while the shared database's
            # count of the day would carry over runs of one org (a chaos seed repeats it).
            "ZOHO_DAILY_LIMIT": "0", **(extra_env or {})})
        up = subprocess.Popen(
            [sys.executable, "-m", "tds.cli", "up", "--port", str(web_port),
             "--webhook-port", str(hook_port),
             "--workers", str(workers), "--projectors", str(projectors), "--no-images"],
            env=env, start_new_session=True, stdout=out, stderr=out)
        wait_http(f"{web_url}/api/bff/tds/status", 120, TOKEN)
        yield System(org, sim_url, web_url, webhook_url, up, sim)
    finally:
        _stop(up)
        _stop(sim)
        if not isinstance(out, int):
            out.close()
