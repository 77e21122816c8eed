"""The whole system against the simulator's ground truth.

`tds up` (web, two workers, projector, relay, poller) syncs a simulated Zoho org whose
webhooks are duplicated, reordered and dropped, and some of whose changes fire no
webhook at all (imports, custom functions). After a full sync and a burst of changes the
read models must equal the simulator's state exactly: nothing lost, duplicated or stale.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.error import URLError

import pytest

from tds.provision.common import Services
from tests.support.pipeline import TOKEN, differences, free_port, http, wait_http


@pytest.fixture
def system(services: Services) -> Iterator[tuple[str, str, str]]:
    org = str(random.randrange(10**10, 10**11))
    web_port, sim_port = free_port(), free_port()
    sim_url, web_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{web_port}"
    secret = "e2e-webhook-secret-42"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": services.kafka_bootstrap_servers,
           "DATABASE_URL": services.database_url}
    sim = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", str(sim_port), "--org-id", org,
         "--items", "150", "--contacts", "40", "--salesorders", "40", "--invoices", "40",
         "--webhook-url", f"{web_url}/api/webhooks/zoho", "--webhook-secret", secret,
         "--duplicate-rate", "0.2", "--reorder-rate", "0.2", "--drop-rate", "0.1",
         "--no-webhook-fraction", "0.2", "--hostile-fraction", "0.2"], env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    up: subprocess.Popen[bytes] | None = None
    try:
        creds = wait_http(f"{sim_url}/_sim/credentials", 60)
        env.update({
            "ZOHO_API_BASE": sim_url, "ZOHO_CLIENT_ID": creds["client_id"],
            "ZOHO_CLIENT_SECRET": creds["client_secret"],
            "ZOHO_REFRESH_TOKEN": creds["refresh_token"], "ZOHO_ORGANIZATION_ID": org,
            "ZOHO_WEBHOOK_SECRET": secret, "TDS_API_TOKEN": TOKEN,
            "TDS_RECONCILE_INTERVAL_MINUTES": "0.25", "TDS_STOCK_SYNC_INTERVAL_MINUTES": "600",
            # Every 72 s: finds deletes whose webhook was lost. Shorter intervals spend
            # Zoho's 100 requests/minute faster than the runs can finish.
            "TDS_FULL_SYNC_INTERVAL_HOURS": "0.02",
            "TDS_RETRY_BACKOFF_SECONDS": "1"})
        up = subprocess.Popen(
            [sys.executable, "-m", "tds.cli", "up", "--port", str(web_port), "--workers", "2",
             "--no-images"], env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"{web_url}/api/bff/tds/status", 120)
        yield org, sim_url, web_url
    finally:
        for process in (up, sim):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


async def test_read_models_equal_zoho(system: tuple[str, str, str], services: Services) -> None:
    org, sim, web = system
    run = http("POST", f"{web}/api/tds/sync", {"source": "zoho"}, TOKEN)["run_id"]
    deadline = time.monotonic() + 180
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status = http("GET", f"{web}/api/tds/sync-runs/{run}")
        except URLError:
            status = {}
        if status.get("status") in ("completed", "failed"):
            break
        await asyncio.sleep(1)
    assert status.get("status") == "completed", (status.get("error"), status)

    applied = http("POST", f"{sim}/_sim/changes", {"apply": 80})["applied"]
    assert any(not change["webhook"] for change in applied), "some changes fire no webhook"
    deadline = time.monotonic() + 300
    report: dict[str, dict[str, int]] = {}
    while time.monotonic() < deadline:
        report = await differences(services.database_url, sim, org)
        if all(r["lost"] == r["extra"] == r["stale"] == r["duplicates"] == r["wrong_text"]
               == r["newer_than_zoho"] == 0
               for r in report.values()):
            break
        await asyncio.sleep(2)
    assert all(r["lost"] == r["extra"] == r["stale"] == r["duplicates"] == r["wrong_text"]
               == r["newer_than_zoho"] == 0
               for r in report.values()), report
    assert report["items"]["rows"] >= 150 - 80
    assert sum(r["hostile"] for r in report.values()) > 0, "hostile strings were exercised"
