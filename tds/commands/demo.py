"""`tds demo`: the whole system on the Zoho simulator (or on real Zoho when configured).

Starts the simulator with a realistic dataset and steady change traffic (webhooks
included), runs `tds up`, prints the dashboard address and token as soon as the web
process answers, then follows the initial full sync with a progress bar. The children log
to a file (its path is printed first); the terminal shows the addresses, the bar and a
summary. SIGTERM and SIGHUP stop it and everything it started, as Ctrl-C does. With
ZOHO_CLIENT_ID, ZOHO_REFRESH_TOKEN and ZOHO_ORGANIZATION_ID set it syncs that Zoho
organization instead and starts no simulator.
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
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.error import URLError
from urllib.request import Request, urlopen

import orjson

from tds.errors import TDSError
from tds.settings import Settings


class DemoError(TDSError):
    """The demo could not start or the initial sync did not finish."""


class Stopped(Exception):  # a request, not a failure
    """SIGTERM or SIGHUP arrived: stop everything, as Ctrl-C does."""


def _stop_on(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


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
    parser.add_argument("--log-file", type=Path, default=None,
                        help="where the children log (default: .tds/demo-<time>.log)")
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


def _start_simulator(args: argparse.Namespace, env: dict[str, str], log: IO[bytes]
                     ) -> tuple[subprocess.Popen[bytes], str]:
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
        env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
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
    progress = run.get("progress") or {}
    total = int(progress.get("total") or run.get("expected") or 0)
    width = 30
    # Until the run knows its total, the bar shows activity only.
    filled = min(width, int(width * done / total)) if total else (done // 50) % (width + 1)
    rate = done / max(time.monotonic() - started, 1e-6)
    eta = progress.get("eta_s")
    left = f" ~{eta:,.0f}s left" if isinstance(eta, int | float) else ""
    return (f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{f'{total:,}' if total else '?'}"
            f" records, {int(progress.get('pages') or 0)} pages, "
            f"{int(run.get('changed') or 0):,} changed, {rate:,.0f}/s{left}  "
            f"{run.get('status', 'queued'):9}")


def joined_run(run: dict[str, Any]) -> str | None:
    """The run a joined run hands its work to."""
    configuration = run.get("configuration") or {}
    if isinstance(configuration, str):  # jsonb as the API renders it
        configuration = orjson.loads(configuration)
    joined = configuration.get("joined")
    return str(joined) if run.get("status") == "joined" and joined else None


def _initial_sync(web: str, token: str, timeout_s: float) -> tuple[dict[str, Any], float]:
    accepted = _http("POST", f"{web}/api/tds/sync", token, {"source": "zoho"})
    run_id = accepted["run_id"]
    started = time.monotonic()
    run: dict[str, Any] = {}
    while time.monotonic() - started < timeout_s:
        try:
            run = _http("GET", f"{web}/api/tds/sync-runs/{run_id}", token)
        except (URLError, OSError):
            run = {"status": "queued"}
        joined = joined_run(run)
        if joined is not None:
            # The scheduler's run reads the same: follow it instead of running twice.
            sys.stderr.write(f"\rrun {run_id} joined run {joined}, which syncs the same\n")
            run_id = joined
            continue
        sys.stderr.write(_progress(run, started))
        sys.stderr.flush()
        if run.get("status") in ("completed", "failed"):
            sys.stderr.write("\n")
            return run, time.monotonic() - started
        time.sleep(1)
    raise DemoError(f"the initial sync did not finish within {timeout_s:.0f}s")


def _log_path(args: argparse.Namespace) -> Path:
    if args.log_file is not None:
        return Path(args.log_file)
    return Path(".tds") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}.log"


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Start, report, sync; then keep running until Ctrl-C, SIGTERM or SIGHUP (or exit with
    --exit-after-sync)."""
    previous = {sig: signal.signal(sig, _stop_on) for sig in (signal.SIGTERM, signal.SIGHUP)}
    log_path = _log_path(args)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started: list[subprocess.Popen[bytes]] = []
    try:
        with log_path.open("ab") as log:
            print(f"logs:       {log_path.resolve()}   (every process of the demo)",
                  flush=True)
            return _run(args, settings, log, started)
    except (KeyboardInterrupt, Stopped):
        return 0
    finally:
        _stop(started)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(args: argparse.Namespace, settings: Settings, log: IO[bytes],
         started: list[subprocess.Popen[bytes]]) -> int:
    env = dict(os.environ)
    # Zoho's budget is per request: the initial sync reads the largest pages Zoho gives.
    env.setdefault("TDS_BATCH_SIZE", "200")
    token = settings.api_token.reveal() or secrets.token_urlsafe(24)
    env["TDS_API_TOKEN"] = token
    args.webhook_port = args.webhook_port or settings.webhook_port
    real_zoho = bool(settings.zoho_client_id and settings.zoho_refresh_token
                     and settings.zoho_organization_id)
    if real_zoho:
        print("Zoho credentials found: syncing the real Zoho organization "
              f"{settings.zoho_organization_id}")
    else:
        sim, base = _start_simulator(args, env, log)
        started.append(sim)
        print(f"Zoho simulator: {base} (control API {base}/_sim/)")
    # TDS first when stopping, so its consumers drain while Zoho (the simulator) answers.
    started.insert(0, subprocess.Popen(
        [sys.executable, "-m", "tds.cli", "up", "--port", str(args.port),
         "--webhook-port", str(args.webhook_port)],
        env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT))
    web = f"http://127.0.0.1:{args.port}"
    _wait(f"{web}/api/bff/tds/status", "tds web", 180, token)
    print(f"dashboard:  {web}/tds-admin")
    print(f"API token:  {token}   (for the dashboard's sync and retry buttons)")
    print(f"metrics:    {web}/metrics   (with the token)")
    print(f"webhooks:   http://127.0.0.1:{args.webhook_port}/api/webhooks/zoho", flush=True)
    outcome, waited_s = _initial_sync(web, token, args.sync_timeout_s)
    took_s = float(outcome.get("duration_s") or waited_s)  # a joined run began earlier
    seen = int(outcome.get("seen") or 0)
    print(f"sync {outcome['status']}: {seen:,} records in {took_s:,.0f} s "
          f"({seen / max(took_s, 1e-6):,.0f}/s); changed {outcome.get('changed')}, "
          f"failed {outcome.get('failed')}"
          + (f", error {outcome['error']}" if outcome.get("error") else ""), flush=True)
    if args.exit_after_sync:
        return 0 if outcome["status"] == "completed" else 1
    print("running; Ctrl-C stops everything", flush=True)
    up = started[0]
    while up.poll() is None:
        time.sleep(1)
    return up.returncode or 0


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each (they drain and exit), in order; kill what outlives a minute."""
    # Signals of our own now would cut the drain short: the children get it from us.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    try:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
