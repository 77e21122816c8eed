"""The faults the chaos scenario injects, one function per family, and what explains them.

Each injector takes the running scenario (its system, services, config and seeded random)
and one `Fault` to fill in: its target, or why it was skipped. The scenario measures the
recovery afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tds.provision.kafka import restart_node, running_node
from tds.provision.postgres import restart_server, running_server
from tests.support.pipeline import http

if TYPE_CHECKING:
    from tests.chaos.scenario import Scenario

# `tds up` runs the writer too (unless --no-writer): its kill -9 meets the write-backs.
KILL_TYPES = ("web", "worker", "projector", "relay", "poller", "writer")
SERVICE_FAULTS = ("kafka_restart", "postgres_restart")
ZOHO_FAULTS = ("http_429_storm", "http_5xx_burst", "token_throttle")
ZOHO_API_FAULTS = frozenset(ZOHO_FAULTS)
INFRA_FAULTS = frozenset(SERVICE_FAULTS) | {f"kill_{k}" for k in KILL_TYPES}
# Error classes a dead letter may carry and the faults that can cause them. A Zoho API
# fault makes the fetch behind a webhook ping fail; if it outlasts the retry chain the
# message is dead-lettered. Broker/database outages and kills can make a stage's
# delivery or store fail the same way. Nothing else is expected.
EXPLAINED_BY: dict[str, frozenset[str]] = {
    # A fetch goes to Zoho, with the token and budget in PostgreSQL.
    "FetchFailed": ZOHO_API_FAULTS | {"postgres_restart"},
    # The writer's call to Zoho (a 429 past the budget's waits, a 5xx, no token).
    "ZohoUnavailable": ZOHO_API_FAULTS | {"postgres_restart"},
    "StoreUnavailable": INFRA_FAULTS,
    "PublishError": INFRA_FAULTS,
    "QueueFullError": INFRA_FAULTS,
    "DeliveryFailed": INFRA_FAULTS,
}
RATE_WINDOW_S = 60.0  # Zoho's per-minute request window
TOKEN_PROBE_S = 60.0  # the Zoho client's first wait after a token throttle


@dataclass
class Fault:
    """One injected fault and how the system recovered."""

    kind: str
    target: str = ""
    at_s: float = 0.0  # since the chaos phase started
    duration_s: float = 0.0
    recovery_s: float | None = None  # fault end → probes in read models and health healthy
    probes_s: float | None = None
    healthy_s: float | None = None
    restarted_s: float | None = None  # kills: until the supervisor had a new process up
    skipped: str = ""
    zoho_wait_s: float = 0.0  # the part of the recovery Zoho imposed (rate window, throttle)
    detail: dict[str, Any] = field(default_factory=dict)
    start_wall: float = 0.0
    end_wall: float = 0.0


_EXITED = re.compile(r"(?P<name>[\w-]+) exited with (?P<code>-?\d+) after")


def unexpected_exits(log_text: str, faults: list[Fault]) -> list[str]:
    """The supervisor's "X exited with N" lines that no SIGKILL of ours explains: a crash
    (SIGSEGV, SIGABRT, an exception) or a kill of a process the scenario did not kill."""
    kills: dict[str, int] = {}
    for fault in faults:
        if fault.kind.startswith("kill_") and fault.target and not fault.skipped:
            kills[fault.target] = kills.get(fault.target, 0) + 1
    found = []
    for line in log_text.splitlines():
        exited = _EXITED.search(line)
        if exited is None:
            continue
        name = exited["name"]
        if int(exited["code"]) == -signal.SIGKILL and kills.get(name, 0) > 0:
            kills[name] -= 1
        else:
            found.append(line.strip())
    return found


def children(up_pid: int) -> dict[str, int]:
    """The `tds up` children by TDS_PROCESS_NAME, read from /proc (no psutil)."""
    found: dict[str, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            if int(fields[1]) != up_pid or fields[0] == b"Z":
                continue
            with open(f"/proc/{entry}/environ", "rb") as environ:
                env = environ.read().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        for item in env:
            if item.startswith(b"TDS_PROCESS_NAME="):
                found[item.split(b"=", 1)[1].decode()] = int(entry)
    return found


def kill(scenario: Scenario, fault: Fault) -> None:
    """SIGKILL one process of the kind; wait (bounded) for the supervisor's new one."""
    kind = fault.kind.removeprefix("kill_")
    up_pid = scenario.system.up.pid
    names = sorted(n for n in children(up_pid) if n == kind or n.startswith(kind + "-"))
    if not names:
        fault.skipped = f"no running {kind} process"
        return
    name = scenario.rng.choice(names)
    pid = children(up_pid)[name]
    if kind == "writer" and scenario.writeback is not None:
        # At work: commands the API just took are on their way to Zoho when it dies.
        fault.detail["commands_just_sent"] = scenario.writeback.burst()
        time.sleep(scenario.writeback.rng.uniform(0.0, 0.3))
    fault.target, fault.detail["pid"] = name, pid
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    deadline = killed + scenario.config.recovery_timeout_s
    while time.monotonic() < deadline:
        new = children(up_pid).get(name)
        if new is not None and new != pid:
            fault.restarted_s = round(time.monotonic() - killed, 1)
            fault.detail["new_pid"] = new
            break
        time.sleep(0.2)


def kafka(scenario: Scenario, fault: Fault) -> None:
    """Stop the broker for `kafka_down_s` and start it again (same port, same data)."""
    node = running_node()
    if node is None or node.bootstrap != scenario.services.kafka_bootstrap_servers:
        fault.skipped = "Kafka was not started by this project (configured elsewhere)"
        return
    fault.target = node.bootstrap
    restart_node(node, down_s=scenario.config.kafka_down_s)


def postgres(scenario: Scenario, fault: Fault) -> None:
    """Restart PostgreSQL (same port, same data)."""
    if running_server() != scenario.services.database_url:
        fault.skipped = "PostgreSQL was not started by this project (configured elsewhere)"
        return
    fault.target = "postgresql"
    restart_server()


def http_fault(scenario: Scenario, fault: Fault) -> None:
    """A 429 storm (a tiny per-minute quota) or a 5xx burst at the simulator's API."""
    sim = scenario.system.sim_url
    before = http("GET", f"{sim}/_sim/stats")
    if fault.kind == "http_429_storm":
        fault.target = "zoho api: per_minute=3, concurrency=1"
        saved = http("GET", f"{sim}/_sim/limits")
        http("POST", f"{sim}/_sim/limits", {"per_minute": 3, "concurrency": 1})
        try:
            time.sleep(scenario.config.zoho_fault_s)
        finally:
            http("POST", f"{sim}/_sim/limits",
                 {k: saved[k] for k in ("per_minute", "daily", "concurrency") if k in saved}
                 or {"per_minute": 100, "concurrency": 10})
            http("POST", f"{sim}/_sim/reset", {"limits": True, "tokens": False})
    else:
        fault.target = "zoho api: error_rate=0.7"
        http("POST", f"{sim}/_sim/faults", {"error_rate": 0.7})
        try:
            time.sleep(scenario.config.zoho_fault_s)
        finally:
            http("POST", f"{sim}/_sim/faults", {"error_rate": 0.0})
    fault.detail["sim_stats_delta"] = _delta(before, http("GET", f"{sim}/_sim/stats"))


def token(scenario: Scenario, fault: Fault) -> None:
    """The token endpoint throttles (and, by default, every access token is forgotten)."""
    sim = scenario.system.sim_url
    before = http("GET", f"{sim}/_sim/stats")
    forget = scenario.config.token_refresh_into_block
    fault.target = ("zoho oauth: force_token_block" +
                    (", access tokens forgotten" if forget else ", tokens kept"))
    http("POST", f"{sim}/_sim/faults", {"force_token_block": True})
    if forget:
        http("POST", f"{sim}/_sim/reset", {"limits": False, "tokens": True})
    try:
        time.sleep(scenario.config.zoho_fault_s)
    finally:
        http("POST", f"{sim}/_sim/faults", {"force_token_block": False})
    fault.detail["sim_stats_delta"] = _delta(before, http("GET", f"{sim}/_sim/stats"))


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Counters that moved between two /_sim/stats snapshots (numbers, one level deep)."""
    out: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            moved = {k: v - old.get(k, 0) for k, v in value.items()
                     if isinstance(v, int | float) and v != old.get(k, 0)}
            if moved:
                out[key] = moved
        elif isinstance(value, int | float) and isinstance(old, int | float) and value != old:
            out[key] = value - old
    return out


# Fault kind → its injector, by the kind's first word (kill_web → kill).
INJECTORS: dict[str, Callable[[Scenario, Fault], None]] = {
    "kill": kill, "kafka": kafka, "postgres": postgres, "http": http_fault, "token": token}
