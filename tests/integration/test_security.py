"""Secrets never leave the process: not in answers, not in /metrics, not in its log.

`tds web` runs with every secret set, each from its `NAME_FILE`, and DEBUG logging; the
test calls every read endpoint of the admin listener with the token and without, sends wrong
credentials to every write and to the webhook listener, then searches all it saw and the
process's command line and environment.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from tds.commands.migrate import MIGRATIONS
from tds.migrate import apply
from tds.provision.common import Services

SECRETS = {
    "ZOHO_CLIENT_SECRET": "client-secret-Zx81Qp",
    "ZOHO_REFRESH_TOKEN": "1000.refresh-token-Kd93Lw",
    "ZOHO_WEBHOOK_SECRET": "webhook-secret-Vb27Mn",
    "TDS_API_TOKEN": "api-token-Hj56Tr",
}
READS = ("/api/tds/health", "/api/tds/status", "/api/tds/queue", "/api/tds/history",
         "/api/tds/sync-runs", "/api/tds/deadletter", "/api/bff/tds/status",
         "/api/bff/tds/recent", "/api/openapi.json", "/metrics", "/tds-admin")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_secrets_stay_secret(services: Services, tmp_path: Path) -> None:
    await apply(services.database_url, MIGRATIONS)
    port, hook_port = _port(), _port()
    log = tmp_path / "web.log"
    env = {**{k: v for k, v in os.environ.items() if k not in SECRETS},
           "KAFKA_BOOTSTRAP_SERVERS": services.kafka_bootstrap_servers,
           "DATABASE_URL": services.database_url, "ZOHO_CLIENT_ID": "1000.client",
           "ZOHO_ORGANIZATION_ID": "123", "TDS_LOG_LEVEL": "DEBUG"}
    for name, value in SECRETS.items():  # Docker/Kubernetes secrets: the environment has paths
        (tmp_path / name).write_text(value + "\n")
        env[f"{name}_FILE"] = str(tmp_path / name)
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tds.cli", "web", "--port", str(port),
            "--webhook-port", str(hook_port), "--access-log",
            env=env, stdout=out, stderr=subprocess.STDOUT)
    seen: list[str] = []
    base, hooks = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{hook_port}"
    auth = {"Authorization": f"Bearer {SECRETS['TDS_API_TOKEN']}"}
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"{base}/api/bff/tds/status", headers=auth):
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.2)
            for part in ("cmdline", "environ"):  # what `ps e` would show of the process
                proc = Path(f"/proc/{process.pid}/{part}")
                seen.append(await asyncio.to_thread(proc.read_text, errors="replace"))
            for path in READS:
                for headers in (auth, {}):
                    async with session.get(base + path, headers=headers) as response:
                        seen.append(await response.text())
            wrong = {"Authorization": f"Bearer not-{SECRETS['TDS_API_TOKEN']}"}
            for path in ("/api/tds/sync", "/api/tds/stock/sync", "/api/tds/deadletter/retry"):
                async with session.post(base + path, json={}, headers=wrong) as response:
                    assert response.status == 401
                    seen.append(await response.text())
            for headers in ({"X-Zoho-Webhook-Signature": "00" * 32}, {}):
                async with session.post(f"{hooks}/api/webhooks/zoho?secret=guess",
                                        json={"item": {"item_id": "1"}},
                                        headers=headers) as response:
                    assert response.status == 401
                    seen.append(await response.text())
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    everything = "\n".join(seen) + log.read_text(errors="replace")
    assert "tds_webhook_requests_total" in everything  # the metrics were really read
    assert '"entities"' in everything  # the token from its file opened the admin reads
    for name, value in SECRETS.items():
        assert value not in everything, f"{name} leaked"
