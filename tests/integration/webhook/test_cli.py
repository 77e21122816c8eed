"""`tds web` as a process: serves the webhook, keeps secrets out of its log, flushes and
exits cleanly on SIGTERM."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import orjson

from tests.integration.webhook.conftest import ORG, SECRET, read_topic


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "tds web exited early"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"tds web did not listen on {port} within {timeout_s} s")


def _post(port: int, path: str, body: bytes) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request("POST", path, body=body,
                           headers={"Content-Type": "application/json"})
        resp = connection.getresponse()
        return resp.status, orjson.loads(resp.read())
    finally:
        connection.close()


def test_tds_web_serves_and_stops_cleanly(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("webhook-cli", partitions=1)
    port = _free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "ZOHO_WEBHOOK_SECRET": SECRET, "ZOHO_WEBHOOK_AUTH": "query",
           "ZOHO_ORGANIZATION_ID": ORG, "TDS_LOG_LEVEL": "DEBUG"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tds.cli", "web", "--webhook-port", str(port), "--no-api",
         "--topic", topic, "--access-log"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process)
        path = "/api/webhooks/zoho"
        status, answer = _post(port, f"{path}?secret={SECRET}&action=edited",
                               b'{"invoice": {"invoice_id": "77", "total": 1}}')
        assert status == 200 and answer["entity_id"] == "77", answer
        status, answer = _post(port, f"{path}?secret=wrong{SECRET}", b'{"invoice_id": "78"}')
        assert status == 401, answer
        status, answer = _post(port, path, b'{"test": true}')
        assert status == 200 and "nothing was published" in str(answer["message"])
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output.decode()
    log = output.decode()
    assert "webhooks on http://127.0.0.1" in log and "POST /api/webhooks/zoho?secret=" in log
    assert SECRET not in log  # redacted in the access log and never logged elsewhere
    [message] = read_topic(kafka_bootstrap, topic, 1)
    assert message.key() == f"{ORG}:invoice:77".encode()
