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
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.error import URLError
from urllib.request import Request, urlopen

import asyncpg
import orjson
import pytest

from tds.provision.common import Services

TOKEN = "e2e-token-0123456789"
# Read model table, id column, simulator entity, a text column (the simulator puts
# hostile strings such as `'; DROP TABLE items; --` and `<script>` in some of them).
TABLES = (("items", "item_id", "items", "name"),
          ("contacts", "contact_id", "contacts", "contact_name"),
          ("sales_orders", "salesorder_id", "salesorders", "salesorder_number"),
          ("invoices", "invoice_id", "invoices", "invoice_number"))


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _http(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    request = Request(url, data=orjson.dumps(body) if body is not None else None,  # noqa: S310
                      method=method, headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urlopen(request, timeout=30) as response:  # noqa: S310  # loopback only
        return orjson.loads(response.read())


def _wait(url: str, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return _http("GET", url)
        except (URLError, OSError, ValueError):
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {timeout_s}s")


def _zoho_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")


async def _differences(dsn: str, sim: str, org: str) -> dict[str, dict[str, int]]:
    conn = await asyncpg.connect(dsn)
    try:
        report: dict[str, dict[str, int]] = {}
        for table, id_column, entity, text_column in TABLES:
            truth = _http("GET", f"{sim}/_sim/state/{entity}")
            expected = {i: _zoho_time(r["last_modified_time"])
                        for i, r in truth["records"].items()}
            texts = {i: r.get(text_column) for i, r in truth["records"].items()}
            rows = await conn.fetch(
                f"SELECT {id_column} AS id, modified_at, {text_column} AS text, raw "
                f"FROM {table} WHERE org_id = $1", org)
            got = {r["id"]: r["modified_at"] for r in rows}
            stored = {r["id"]: r["text"] for r in rows}
            raws = {r["id"]: orjson.loads(r["raw"]) for r in rows if r["raw"]}

            def is_stale(record_id: str, at: datetime, got: dict[str, datetime] = got,
                         raws: dict[str, Any] = raws, zoho: dict[str, Any] = truth) -> bool:
                """Older than Zoho *and* some field TDS holds differs from Zoho's.

                A change that only moved last_modified_time (a "touch", or a field the
                list view doesn't show) is unchanged content: by the version rule it is
                not emitted, so TDS keeps the earlier time.
                """
                if got[record_id] >= at:
                    return False
                record = zoho["records"][record_id]
                return any(record.get(k) != v for k, v in raws.get(record_id, {}).items()
                           if k != "last_modified_time")

            report[table] = {
                "lost": len(set(expected) - set(got)),
                "extra": len(set(got) - set(expected)),
                "stale": sum(1 for i, at in expected.items() if i in got and is_stale(i, at)),
                "newer_than_zoho": sum(1 for i, at in expected.items() if i in got
                                       and got[i] > at),
                "rows": len(rows), "duplicates": len(rows) - len(got),
                "wrong_text": sum(1 for i, text in texts.items() if i in stored
                                  and (stored[i] or "") != (text or "")),
                "hostile": sum(1 for text in texts.values()
                               if text and any(c in text for c in "<'\";")),
            }
            for i, at in expected.items():
                if i in got and is_stale(i, at):
                    print(f"stale {table} {i}: zoho {at} tds {got[i]}")
        return report
    finally:
        await conn.close()


@pytest.fixture
def system(services: Services) -> Iterator[tuple[str, str, str]]:
    org = str(random.randrange(10**10, 10**11))
    web_port, sim_port = _port(), _port()
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
        creds = _wait(f"{sim_url}/_sim/credentials", 60)
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
        _wait(f"{web_url}/api/bff/tds/status", 120)
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
    run = _http("POST", f"{web}/api/tds/sync", {"source": "zoho"}, TOKEN)["run_id"]
    deadline = time.monotonic() + 180
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status = _http("GET", f"{web}/api/tds/sync-runs/{run}")
        except URLError:
            status = {}
        if status.get("status") in ("completed", "failed"):
            break
        await asyncio.sleep(1)
    assert status.get("status") == "completed", (status.get("error"), status)

    applied = _http("POST", f"{sim}/_sim/changes", {"apply": 80})["applied"]
    assert any(not change["webhook"] for change in applied), "some changes fire no webhook"
    deadline = time.monotonic() + 300
    report: dict[str, dict[str, int]] = {}
    while time.monotonic() < deadline:
        report = await _differences(services.database_url, sim, org)
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
