"""`tds web` listens twice: the webhook port answers only the Zoho paths (404 on every admin
path), the admin port answers the admin API, BFF, dashboard and /metrics (and not the
webhook); admin reads there need the token, the health probe says only its status."""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from api.openapi import document
from tds.commands.migrate import MIGRATIONS
from tds.migrate import apply
from tds.provision.common import Services
from tests.support.pipeline import free_port

TOKEN = "listeners-token-Ue41"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
             body: bytes = b"{}") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=body if method != "GET" else None,
                     headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _admin_surface() -> list[tuple[str, str]]:
    paths = [(method.upper(), path.replace("{run_id}", "r1"))
             for path, ops in document()["paths"].items() if not path.startswith("/api/webhooks")
             for method in ops]
    return [*paths, ("GET", "/tds-admin"), ("GET", "/tds-admin/static/dashboard.js"),
            ("POST", "/api/tds/deadletter/retry-all")]


@pytest.fixture
def web(services: Services, tmp_path: Path) -> Iterator[tuple[int, int, subprocess.Popen[bytes]]]:
    asyncio.run(apply(services.database_url, MIGRATIONS))
    admin_port, hook_port = free_port(), free_port()
    # Addresses from the settings this time (the flags are covered by tests/unit).
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": services.kafka_bootstrap_servers,
           "DATABASE_URL": services.database_url, "TDS_API_TOKEN": TOKEN,
           "TDS_WEBHOOK_ALLOW_UNSIGNED": "true", "TDS_ADMIN_PORT": str(admin_port),
           "TDS_WEBHOOK_PORT": str(hook_port)}
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "tds.cli", "web"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", admin_port), timeout=1), \
                        socket.create_connection(("127.0.0.1", hook_port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        yield admin_port, hook_port, process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_each_listener_answers_only_its_own_paths(
        web: tuple[int, int, subprocess.Popen[bytes]]) -> None:
    admin_port, hook_port, _ = web
    surface = _admin_surface()
    assert len(surface) >= 16
    for method, path in surface:
        status, _ = _request(hook_port, method, path, AUTH)
        assert status == 404, (method, path, status)
    status, body = _request(hook_port, "POST", "/api/webhooks/zoho", body=b'{"test": true}')
    assert status == 200 and b"nothing was published" in body  # the guide's probe
    for method in ("POST", "PUT", "DELETE"):
        assert _request(admin_port, method, "/api/webhooks/zoho")[0] == 404
    assert _request(admin_port, "GET", "/tds-admin")[0] == 200


def test_admin_reads_need_the_token_and_health_stays_open(
        web: tuple[int, int, subprocess.Popen[bytes]]) -> None:
    admin_port, _, _ = web
    for path in ("/api/tds/status", "/api/tds/deadletter", "/api/tds/sync-runs",
                 "/api/bff/tds/status", "/metrics"):
        assert _request(admin_port, "GET", path)[0] == 401, path
        assert _request(admin_port, "GET", path, AUTH)[0] == 200, path
    status, body = _request(admin_port, "GET", "/api/tds/health")
    assert status in (200, 503)
    assert orjson.loads(body).keys() == {"status"}
    _, full = _request(admin_port, "GET", "/api/tds/health", AUTH)
    assert {"status", "problems", "checks"} <= orjson.loads(full).keys()


def test_one_port_for_both_listeners_is_refused(services: Services) -> None:
    port = str(free_port())
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": services.kafka_bootstrap_servers,
           "DATABASE_URL": services.database_url}
    done = subprocess.run([sys.executable, "-m", "tds.cli", "web", "--port", port,
                           "--webhook-port", port], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    assert f"the webhook and admin listeners would share 127.0.0.1:{port}" in done.stderr
    assert "TDS_WEBHOOK_HOST/TDS_WEBHOOK_PORT" in done.stderr
