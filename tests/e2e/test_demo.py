"""The README's `make demo` path: `tds demo` starts everything, syncs, prints the dashboard."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys

from tds.provision.common import Services


def test_demo_syncs_and_prints_the_dashboard(services: Services) -> None:
    with socket.socket() as sock, socket.socket() as hook:
        sock.bind(("127.0.0.1", 0))
        hook.bind(("127.0.0.1", 0))
        port, hook_port = sock.getsockname()[1], hook.getsockname()[1]
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": services.kafka_bootstrap_servers,
           "DATABASE_URL": services.database_url}
    for name in ("ZOHO_CLIENT_ID", "ZOHO_REFRESH_TOKEN", "ZOHO_ORGANIZATION_ID"):
        env.pop(name, None)  # no Zoho credentials: the demo runs on the simulator
    result = subprocess.run(
        [sys.executable, "-m", "tds.cli", "demo", "--port", str(port),
         "--webhook-port", str(hook_port), "--items", "120",
         "--org-id", str(random.randrange(10**10, 10**11)),
         "--contacts", "20", "--salesorders", "20", "--invoices", "20", "--change-rate", "1",
         "--exit-after-sync", "--sync-timeout-s", "240"],
        env=env, capture_output=True, text=True, timeout=400, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Zoho simulator: http://127.0.0.1:" in result.stdout
    assert "sync completed" in result.stdout
    assert f"dashboard:  http://127.0.0.1:{port}/tds-admin" in result.stdout
    assert f"webhooks:   http://127.0.0.1:{hook_port}/api/webhooks/zoho" in result.stdout
