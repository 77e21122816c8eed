"""`tds demo`: the whole system on the Zoho simulator (or on real Zoho when configured).

Starts the simulator with a realistic dataset and steady change traffic (webhooks
included), runs `tds up`, starts the initial full sync with a progress bar and prints the
dashboard address. With ZOHO_CLIENT_ID, ZOHO_REFRESH_TOKEN and ZOHO_ORGANIZATION_ID set it
syncs that Zoho organization instead and starts no simulator.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from typing import Any
from urllib.error import URLError
from urllib.request import Request, urlopen

import orjson

from tds.errors import TDSError
from tds.settings import Settings


class DemoError(TDSError):
    """The demo could not start or the initial sync did not finish."""


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("demo", help="run everything on the Zoho simulator, with a sync")
    parser.add_argument("--port", type=int, default=8000,
                        help="TDS admin port: API, dashboard, /metrics (default: %(default)s)")
    parser.add_argument("--webhook-port", type=int, default=None,
                        help="TDS webhook port the simulator posts to (default: "
                             "TDS_WEBHOOK_PORT, 8001)")
    parser.add_argument("--sim-port", type=int, default=0, help="simulator port (0: free)")
    parser.add_argument("--org-id", default=None,
                        help="simulated organization id (default: the simulator's)")
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--salesorders", type=int, default=2000)
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--change-rate", type=float, default=2.0,
                        help="simulated Zoho changes per second (webhooks included)")
    parser.add_argument("--sync-timeout-s", type=float, default=1800)
    parser.add_argument("--exit-after-sync", action="store_true",
                        help="stop everything once the initial sync finished (for tests)")
    parser.set_defaults(handler=run)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _http(method: str, url: str, token: str | None = None, body: Any = None,
          timeout_s: float = 10) -> Any:
    data = orjson.dumps(body) if body is not None else None
    request = Request(url, data=data, method=method)  # noqa: S310  # loopback URLs we built
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        return orjson.loads(response.read())


def _wait(url: str, what: str, timeout_s: float, token: str | None = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return _http("GET", url, token, timeout_s=5)
        except (URLError, OSError, ValueError):
            time.sleep(0.5)
    raise DemoError(f"{what} did not answer at {url} within {timeout_s:.0f}s")


def _start_simulator(args: argparse.Namespace, env: dict[str, str]) -> tuple[
        subprocess.Popen[bytes], str]:
    port = args.sim_port or _free_port()
    secret = secrets.token_hex(16)
    # Through the environment: a command-line argument would show in every process list.
    env["ZOHO_WEBHOOK_SECRET"] = secret
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port),
         "--items", str(args.items), "--contacts", str(args.contacts),
         "--salesorders", str(args.salesorders), "--invoices", str(args.invoices),
         "--webhook-url", f"http://127.0.0.1:{args.webhook_port}/api/webhooks/zoho",
         "--change-rate", str(args.change_rate),
         *(["--org-id", args.org_id] if args.org_id else [])],
        env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    credentials = _wait(f"{base}/_sim/credentials", "the simulator", 120)
    env.update({
        "ZOHO_API_BASE": base,
        "ZOHO_CLIENT_ID": credentials["client_id"],
        "ZOHO_CLIENT_SECRET": credentials["client_secret"],
        "ZOHO_REFRESH_TOKEN": credentials["refresh_token"],
        "ZOHO_ORGANIZATION_ID": credentials["organization_id"],
    })
    return process, base


def _progress(run: dict[str, Any], started: float) -> str:
    done = int(run.get("seen") or 0)
    total = int(run.get("expected") or run.get("sent") or 0)
    width = 30
    # Zoho gives no totals up front: until the run knows, the bar shows activity only.
    filled = min(width, int(width * done / total)) if total else (done // 50) % (width + 1)
    rate = done / max(time.monotonic() - started, 1e-6)
    return (f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total or '?'} records "
            f"{rate:,.0f}/s  {run.get('status', 'queued'):9}")


def _initial_sync(web: str, token: str, timeout_s: float) -> dict[str, Any]:
    accepted = _http("POST", f"{web}/api/tds/sync", token, {"source": "zoho"})
    run_id = accepted["run_id"]
    print(f"initial full sync: run {run_id}")
    started = time.monotonic()
    run: dict[str, Any] = {}
    while time.monotonic() - started < timeout_s:
        try:
            run = _http("GET", f"{web}/api/tds/sync-runs/{run_id}", token)
        except (URLError, OSError):
            run = {"status": "queued"}
        sys.stderr.write(_progress(run, started))
        sys.stderr.flush()
        if run.get("status") in ("completed", "failed"):
            sys.stderr.write("\n")
            return run
        time.sleep(1)
    raise DemoError(f"the initial sync did not finish within {timeout_s:.0f}s")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Start, sync, report; then keep running until Ctrl-C (or exit with --exit-after-sync)."""
    env = dict(os.environ)
    token = settings.api_token.reveal() or secrets.token_urlsafe(24)
    env["TDS_API_TOKEN"] = token
    args.webhook_port = args.webhook_port or settings.webhook_port
    real_zoho = bool(settings.zoho_client_id and settings.zoho_refresh_token
                     and settings.zoho_organization_id)
    sim: subprocess.Popen[bytes] | None = None
    if real_zoho:
        print("Zoho credentials found: syncing the real Zoho organization "
              f"{settings.zoho_organization_id}")
    else:
        sim, base = _start_simulator(args, env)
        print(f"Zoho simulator: {base} (control API {base}/_sim/)")
    up = subprocess.Popen([sys.executable, "-m", "tds.cli", "up", "--port", str(args.port),
                           "--webhook-port", str(args.webhook_port)],
                          env=env, start_new_session=True)
    web = f"http://127.0.0.1:{args.port}"
    try:
        _wait(f"{web}/api/bff/tds/status", "tds web", 180, token)
        outcome = _initial_sync(web, token, args.sync_timeout_s)
        print(f"sync {outcome['status']}: seen {outcome.get('seen')}, "
              f"changed {outcome.get('changed')}, failed {outcome.get('failed')}"
              + (f", error {outcome['error']}" if outcome.get("error") else ""))
        print(f"\ndashboard:  {web}/tds-admin")
        print(f"API token:  {token}   (for the dashboard's sync and retry buttons)")
        print(f"metrics:    {web}/metrics   (with the token)")
        print(f"webhooks:   http://127.0.0.1:{args.webhook_port}/api/webhooks/zoho\n")
        if args.exit_after_sync:
            return 0 if outcome["status"] == "completed" else 1
        print("running; Ctrl-C stops everything")
        while up.poll() is None:
            time.sleep(1)
        return up.returncode or 0
    except KeyboardInterrupt:
        return 0
    finally:
        # TDS first, so its consumers drain while Zoho (the simulator) still answers.
        for process in (up, sim):
            if process is None:
                continue
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
