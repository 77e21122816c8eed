"""The chaos scenario: faults while the simulator keeps changing Zoho, then the truth.

`tds up` (web, ≥ 2 workers, 2 projectors, relay, poller, writer) syncs a simulated org whose
webhooks are duplicated, reordered and dropped and some of whose changes fire no webhook.
While changes flow, the scenario injects faults one at a time, in a seeded random order
and at seeded random moments:

- SIGKILL of one process of each type (web, worker, projector, relay, poller, writer);
  the supervisor in `tds up` restarts it;
- a Kafka broker restart and a PostgreSQL restart (same ports, same data);
- a 429 storm, a 5xx burst and OAuth token throttling at the simulator.

Meanwhile the ERP writes back: a bounded, seeded stream of commands through
`POST /api/tds/outbound` (`tests/chaos/writeback.py`). After the faults every command
must reach an outcome, have exactly one effect in Zoho and show in the read models
(`tests/chaos/writejudge.py`); a failure there fails the run.

After each fault it measures the recovery time: from the end of the fault until
(a) probe changes made right after the fault (an edit with a webhook, one per entity)
are in the read models and (b) `/api/tds/health` says healthy. Recovery is reported raw,
with the wait Zoho imposes beside it (a 429 storm's minute window, a token throttle's
probe); one bound judges every fault: recovery minus that wait.

Two verdicts, reported apart:
- **event path**: during the chaos Zoho's webhooks are duplicated and reordered but none
  is dropped and every change fires one; no scheduled reconcile or full sync runs (the
  report checks `sync_runs`); at the end nothing is forced: the scenario waits for the
  pipeline to drain and compares. Every change must have come through webhook → Kafka →
  worker → projector.
- **whole system**: then webhooks are dropped and some changes fire none; a requested
  reconcile and full sync (the pollers) must repair the read models.
The comparison (`tests.support.truth`) covers every entity table, child table and the
item stock on every column, and counts events applied twice in the audit log.

A dead letter is *explained* when it names its stage, error class and message, and its
error class is one the injected faults can cause (see `EXPLAINED_BY`), and its first
failure falls inside the effect window of such a fault (fault start − 2 s to fault end +
the wait Zoho imposed + the retry chain + 10 s). Anything else — a missing reason, a
class no fault explains (a bug such as a KeyError) or a failure outside every window — is
unexplained.

Every planned fault must run: one that did not fit the time budget, or was skipped, fails
the run.

No process may exit unless a SIGKILL of the scenario explains it: the supervisor restarts
crashed processes, so a crash would otherwise go unseen (it did: SIGSEGV/SIGABRT in
librdkafka's admin client at broker restarts, see `tds.kafka`).

Run alone (the long run, `make chaos`):
    python -m tests.chaos.scenario --seconds 300 --out bench/out
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError

import asyncpg
import orjson

from tds.provision.common import Services
from tds.provision.kafka import ensure_kafka, kafka_home, stop_kafka
from tds.provision.postgres import ensure_postgres, stop_postgres
from tests.chaos.faults import (
    EXPLAINED_BY,
    INJECTORS,
    KILL_TYPES,
    RATE_WINDOW_S,
    SERVICE_FAULTS,
    TOKEN_PROBE_S,
    ZOHO_FAULTS,
    Fault,
    children,
    unexpected_exits,
)
from tests.chaos.report import failures, markdown, totals
from tests.chaos.writeback import WriteBack
from tests.support.pipeline import (
    TOKEN,
    WEBHOOK_SECRET,
    System,
    full_sync,
    http,
    is_stale,
    running_system,
    zoho_time,
)
from tests.support.truth import clean, compare

PRIVATE_ENV = ("TDS_CACHE_DIR", "TDS_STATE_DIR", "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")


@contextmanager
def private_services(root: Path) -> Iterator[Services]:
    """A Kafka broker and a PostgreSQL server of the chaos run's own, stopped afterwards.

    The scenario restarts the broker and the database. Doing that to the shared ones
    races anything else that provisions meanwhile (another pytest session, `make up`):
    it sees them down and re-initialises them, wiping their data. Here the provisioning
    folders point at `root` (Kafka's jars are linked from the shared cache) while the
    scenario runs, so its restarts touch nothing but its own services.
    """
    shared_lib = kafka_home() / "lib"
    saved = {name: os.environ.get(name) for name in PRIVATE_ENV}
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the postgres system user must reach the cluster folder
    os.environ["TDS_CACHE_DIR"], os.environ["TDS_STATE_DIR"] = str(root), str(root / "state")
    os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    os.environ.pop("DATABASE_URL", None)
    try:
        home = kafka_home()
        home.mkdir(parents=True, exist_ok=True)
        if shared_lib.is_dir() and not (home / "lib").exists():
            (home / "lib").symlink_to(shared_lib, target_is_directory=True)
        yield Services(kafka_bootstrap_servers=ensure_kafka(), database_url=ensure_postgres())
    finally:
        try:
            stop_kafka()
            stop_postgres()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            shutil.rmtree(root, ignore_errors=True)


# (table, id column, simulator entity) probed after every fault.
PROBES = (("items", "item_id", "items"), ("contacts", "contact_id", "contacts"),
          ("sales_orders", "salesorder_id", "salesorders"))
# The event path: duplicated and reordered webhooks, none dropped, every change fires one.
SIM_ARGS = ("--items", "150", "--contacts", "40", "--salesorders", "40", "--invoices", "40",
            "--duplicate-rate", "0.2", "--reorder-rate", "0.2", "--drop-rate", "0",
            "--no-webhook-fraction", "0")
WHOLE_SYSTEM_DROPS = {"drop_rate": 0.1}  # then some lost, and some changes fire none
WHOLE_SYSTEM_SILENT = 0.2
# No scheduled poll during the chaos: the initial and final syncs are requested ones.
NO_SCHEDULES = {"TDS_RECONCILE_INTERVAL_MINUTES": "10080", "TDS_FULL_SYNC_INTERVAL_HOURS": "0",
                "TDS_STOCK_SYNC_INTERVAL_MINUTES": "10080"}


@dataclass(frozen=True)
class ChaosConfig:
    """How long and how hard."""

    seed: int
    rounds: int = 1  # each round applies every fault type once, in a shuffled order
    min_seconds: float = 0.0  # keep adding rounds until the chaos phase lasted this long
    max_seconds: float = 150.0  # never start a fault after this much chaos time
    change_rate: float = 3.0  # simulator changes per second while the chaos runs
    workers: int = 2
    projectors: int = 2
    recovery_timeout_s: float = 60.0
    converge_timeout_s: float = 150.0
    zoho_fault_s: float = 6.0
    kafka_down_s: float = 3.0
    gap_s: tuple[float, float] = (1.0, 4.0)
    retry_budget_s: float = 1 + 2 + 4 + 8 + 16  # TDS_RETRY_BACKOFF_SECONDS=1, 5 attempts
    # Forget the access tokens while the token endpoint throttles, so every process must
    # refresh into the block. The Zoho client probes a throttle again after 60 s
    # (doubling per refusal; producers/zoho/tokens.py): a wait Zoho imposes, reported.
    token_refresh_into_block: bool = True
    whole_system_s: float = 20.0  # changes with dropped webhooks before the repair
    sabotage: bool = False  # afterwards, break the read models and check the verdicts trip
    # Write-back commands sent while the faults run (tests/chaos/writeback.py); 0: none.
    writeback_commands: int = 45
    writeback_interval_s: float = 3.0


def log(message: str) -> None:
    """Progress on stderr (pytest shows it with -s or on failure)."""
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _health(web: str) -> tuple[str, list[str]]:
    """The health status and its problems (an HTTP 503 still carries the document)."""
    try:
        doc = http("GET", f"{web}/api/tds/health", token=TOKEN, timeout_s=10)
    except HTTPError as exc:
        try:
            doc = orjson.loads(exc.read())
        except (orjson.JSONDecodeError, OSError):
            return "unreachable", [f"HTTP {exc.code}"]
    except (URLError, OSError, ValueError) as exc:
        return "unreachable", [repr(exc)[:200]]
    return str(doc.get("status")), [str(p) for p in doc.get("problems") or ()]


async def _probe_rows(dsn: str, org: str, wanted: list[tuple[str, str, str]]
                      ) -> dict[str, tuple[datetime, dict[str, Any]]]:
    """Each probe's row: its modified time and raw record (absent: no row)."""
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        out: dict[str, tuple[datetime, dict[str, Any]]] = {}
        for table, id_column, record_id in wanted:
            row = await conn.fetchrow(
                f"SELECT modified_at, raw FROM {table} WHERE org_id = $1 AND {id_column} = $2",
                org, record_id, timeout=5)
            if row is not None:
                out[record_id] = (row["modified_at"], orjson.loads(row["raw"] or "{}"))
        return out
    finally:
        await conn.close()


class Scenario:
    """Run the chaos against one system; `report()` says what happened."""

    system: System

    def __init__(self, services: Services, config: ChaosConfig, log_file: Path | None) -> None:
        self.services = services
        self.config = config
        self.rng = random.Random(config.seed)
        self.log_file = log_file
        self.faults: list[Fault] = []
        self.result: dict[str, Any] = {}
        self.chaos_start = 0.0
        self.chaos_wall = 0.0
        self.started_wall = 0.0
        self.writeback: WriteBack | None = None

    # -- the system ---------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Everything: start, sync, chaos, converge, check. Returns the report."""
        org = str(self.rng.randrange(10**10, 10**11))
        self.started_wall = time.time()
        log(f"seed {self.config.seed}, org {org}")
        with running_system(self.services, org=org, workers=self.config.workers,
                            projectors=self.config.projectors, sim_args=SIM_ARGS,
                            extra_env=NO_SCHEDULES, log=self.log_file) as system:
            self.system = system
            self._initial_sync()
            self._chaos()
            self._event_path()
            self._whole_system()
            self.result["dead_letters"] = asyncio.run(self.dead_letter_rows())
            self.result["secrets_in_log"] = asyncio.run(self._secrets_in_log())
            self.result["unexpected_exits"] = self.unexpected_exit_lines()
            self.result["sim_stats"] = http("GET", f"{system.sim_url}/_sim/stats")
            self.result["restarts_seen"] = children(system.up.pid)
            if self.config.sabotage:
                from tests.chaos.sabotage import Sabotage  # it imports this module
                caught = self.result["sabotage"] = Sabotage(self).run()
                log(f"sabotage: {sum(c['caught'] for c in caught.values())}/{len(caught)} "
                    f"caught; {[f'{k}: {v}' for k, v in caught.items() if 'write' in k]}")
        return self.report()

    def _full_sync(self, timeout_s: float) -> dict[str, Any]:
        return full_sync(self.system.web_url, timeout_s)

    def _initial_sync(self) -> None:
        began = time.monotonic()
        status = self._full_sync(150)
        assert status.get("status") == "completed", ("initial full sync", status)
        self.result["initial_sync_s"] = round(time.monotonic() - began, 1)
        log(f"initial full sync in {self.result['initial_sync_s']}s")

    # -- faults -------------------------------------------------------------------------

    def _plan(self) -> list[str]:
        kinds = [f"kill_{k}" for k in KILL_TYPES] + list(SERVICE_FAULTS) + list(ZOHO_FAULTS)
        self.rng.shuffle(kinds)
        return kinds

    def _chaos(self) -> None:
        cfg, sim = self.config, self.system.sim_url
        http("POST", f"{sim}/_sim/changes", {"rate": cfg.change_rate})
        self.chaos_start, self.chaos_wall = time.monotonic(), time.time()
        if cfg.writeback_commands:
            self.writeback = WriteBack(self.system, self.services.database_url, cfg.seed,
                                       cfg.writeback_commands, cfg.writeback_interval_s)
            self.writeback.start()
        try:
            self._faults()
        finally:
            if self.writeback is not None:
                self.writeback.stop()
        self.result["chaos_s"] = round(time.monotonic() - self.chaos_start, 1)

    def _faults(self) -> None:
        cfg = self.config
        rounds = 0
        not_run: list[str] = []
        while True:
            elapsed = time.monotonic() - self.chaos_start
            if rounds >= cfg.rounds and elapsed >= cfg.min_seconds:
                break
            if elapsed >= cfg.max_seconds:
                log(f"chaos time budget {cfg.max_seconds}s used after {rounds} rounds")
                break
            for n, kind in enumerate(plan := self._plan()):
                if time.monotonic() - self.chaos_start >= cfg.max_seconds:
                    not_run = plan[n:]  # a round cut short: said, and it fails the run
                    log(f"chaos time budget {cfg.max_seconds}s used; not run: {not_run}")
                    break
                time.sleep(self.rng.uniform(*cfg.gap_s))
                self._inject(kind)
            rounds += 1
        self.result["not_run"] = not_run
        self.result["rounds"] = rounds

    def _inject(self, kind: str) -> None:
        fault = Fault(kind, at_s=round(time.monotonic() - self.chaos_start, 1),
                      start_wall=time.time())
        began = time.monotonic()
        try:
            INJECTORS[kind.split("_", 1)[0]](self, fault)
        finally:
            fault.end_wall = time.time()
        fault.duration_s = round(time.monotonic() - began, 1)
        if not fault.skipped:
            self._measure(fault)
        self.faults.append(fault)
        log(f"{kind} {fault.target} at {fault.at_s}s: lasted {fault.duration_s}s, "
            f"recovered in {fault.recovery_s}s (probes {fault.probes_s}s, healthy "
            f"{fault.healthy_s}s, restarted {fault.restarted_s}s) {fault.skipped}")

    # -- recovery -----------------------------------------------------------------------

    def _apply_probes(self) -> list[tuple[str, str, str, str]]:
        sim = self.system.sim_url
        probes = []
        for table, id_column, entity in PROBES:
            change = http("POST", f"{sim}/_sim/changes",
                          {"apply": [{"entity": entity, "action": "edited",
                                      "webhook": True}]})["applied"][0]
            probes.append((table, id_column, entity, change["id"]))
        return probes

    def _probes_visible(self, probes: list[tuple[str, str, str, str]]) -> bool:
        sim, system = self.system.sim_url, self.system
        try:
            got = asyncio.run(_probe_rows(self.services.database_url, system.org,
                                          [(t, c, i) for t, c, _, i in probes]))
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        for _, _, entity, record_id in probes:
            truth = http("GET", f"{sim}/_sim/state/{entity}")["records"].get(record_id)
            row = got.get(record_id)
            if truth is None:
                if row is not None:
                    return False
            # An edit that changed nothing TDS keeps (a line's quantity set to the value it
            # had) is not emitted, by the version rule: the row keeps its earlier time and is
            # as current as the read model gets (the convergence check's own definition).
            elif row is None or is_stale(row[0], zoho_time(truth["last_modified_time"]),
                                         row[1], truth):
                return False
        return True

    def _probe_state(self, probes: list[tuple[str, str, str, str]]) -> dict[str, Any]:
        """For a failure message: each probe's time at Zoho and in its read model."""
        try:
            got = asyncio.run(_probe_rows(self.services.database_url, self.system.org,
                                          [(t, c, i) for t, c, _, i in probes]))
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            return {"error": repr(exc)[:200]}
        state = {}
        for _, _, entity, record_id in probes:
            truth = http("GET", f"{self.system.sim_url}/_sim/state/{entity}")["records"].get(
                record_id)
            row = got.get(record_id)
            state[f"{entity}/{record_id}"] = {
                "zoho": truth and truth["last_modified_time"],
                "row": None if row is None else str(row[0])}
        return state

    def _zoho_wait_s(self, fault: Fault) -> float:
        """The part of a recovery Zoho imposes: the rest of its per-minute window after a
        429 storm (the client waits it out rather than spend refused requests), the
        token endpoint's first probe after a throttle the processes refreshed into; a
        fault soon after a storm inherits what is left of that window."""
        if fault.kind == "http_429_storm":
            return max(0.0, fault.start_wall + RATE_WINDOW_S - fault.end_wall)
        if fault.kind == "token_throttle" and self.config.token_refresh_into_block:
            return TOKEN_PROBE_S
        storms = [f.start_wall + RATE_WINDOW_S for f in self.faults
                  if f.kind == "http_429_storm" and not f.skipped]
        return max([0.0, *(end - fault.end_wall for end in storms)])

    def _measure(self, fault: Fault) -> None:
        system = self.system
        end = time.monotonic()
        probes = self._apply_probes()
        fault.zoho_wait_s = round(self._zoho_wait_s(fault), 1)
        # One bound for every fault, on the recovery beyond what Zoho imposed.
        deadline = end + fault.zoho_wait_s + self.config.recovery_timeout_s
        while time.monotonic() < deadline and (fault.probes_s is None
                                               or fault.healthy_s is None):
            if fault.healthy_s is None:
                status, problems = _health(system.web_url)
                if status == "healthy":
                    fault.healthy_s = round(time.monotonic() - end, 1)
                else:
                    fault.detail["last_health"] = [status, *problems]
            if fault.probes_s is None and self._probes_visible(probes):
                fault.probes_s = round(time.monotonic() - end, 1)
            time.sleep(0.5)
        if fault.healthy_s is not None:
            fault.detail.pop("last_health", None)
        if fault.probes_s is None:
            fault.detail["probe_state"] = self._probe_state(probes)
        if fault.probes_s is not None and fault.healthy_s is not None:
            fault.recovery_s = max(fault.probes_s, fault.healthy_s)
        fault.detail["probes"] = [f"{e}/{i}" for _, _, e, i in probes]

    # -- the end --------------------------------------------------------------------------

    def _compare_until_clean(self, deadline: float, excused: frozenset[str] = frozenset(),
                             retry_dead: bool = False) -> dict[str, dict[str, Any]]:
        """Compare with the truth until it is clean or the deadline (at least once);
        `retry_dead`: meanwhile send pending dead letters back, as an operator would."""
        report: dict[str, dict[str, Any]] = {}
        while True:
            if retry_dead:
                self._retry_dead_letters()
            try:
                report = asyncio.run(compare(self.services.database_url, self.system.sim_url,
                                             self.system.org, excused))
            except (OSError, asyncpg.PostgresError, TimeoutError):
                report = {}
            if (report and clean(report)) or time.monotonic() >= deadline:
                return report
            time.sleep(2)

    def _retry_dead_letters(self) -> None:
        """POST /api/tds/deadletter/retry-all: a fault that outlasted the retry chain (a
        token throttle's 60 s probe against a 31 s chain) dead-letters the pings it hit;
        sending them back is the event path's own repair."""
        try:
            answer = http("POST", f"{self.system.web_url}/api/tds/deadletter/retry-all",
                          {}, TOKEN)
        except (URLError, OSError, ValueError):
            return
        self.result["dead_letters_retried"] = (self.result.get("dead_letters_retried", 0)
                                               + int(answer.get("requested") or 0))

    def _quiet(self) -> None:
        """Stop the changes and every fault; let the queued webhooks go out."""
        sim = self.system.sim_url
        http("POST", f"{sim}/_sim/changes", {"rate": 0})
        http("POST", f"{sim}/_sim/faults", {"error_rate": 0.0, "force_token_block": False})
        http("POST", f"{sim}/_sim/reset", {"limits": True, "tokens": False})
        http("POST", f"{sim}/_sim/webhooks/drain", {"timeout_s": 30})

    def _event_path(self) -> None:
        """Nothing forced: after the faults, wait for the pipeline to drain and compare.

        A change whose webhook Zoho gave up delivering (the receiver killed, or refusing
        while Kafka was down, through all of Zoho's retries) never entered the event path:
        its record is excused from this verdict when a fault explains the refusal (unless
        the webhook announced a write-back's own write: the writer feeds that record back
        itself), and a refusal no fault explains fails the run. The write-back commands
        must be final (or dead-lettered) first."""
        began = time.monotonic()
        self._quiet()
        deadline = began + self.config.converge_timeout_s
        settled_s = self.writeback.settle(deadline, self._retry_dead_letters) \
            if self.writeback is not None else 0.0
        given_up = http("GET", f"{self.system.sim_url}/_sim/webhooks/log")["given_up"]
        explained = [g for g in given_up if self._refused_by_fault(g)]
        # A write-back's own webhook: the writer fed its record back, so none is excused.
        own = self.writeback.own_writes(explained) if self.writeback is not None else set()
        excused = frozenset(str(g["record_id"]) for g in explained
                            if int(g["change_seq"]) not in own)
        self.result["webhooks_given_up"] = {
            "explained": len(explained), "write_backs_not_excused": len(own),
            "unexplained": [g for g in given_up if g not in explained]}
        report = self._compare_until_clean(deadline, excused, retry_dead=True)
        self.result["scheduled_runs_in_chaos"] = asyncio.run(self._scheduled_runs())
        self._verdict("event_path", began, report,
                      f"({len(excused)} records excused: webhooks given up)")
        if self.writeback is not None:  # judged on the event path: the writer feeds back
            judged = self.result["writeback"] = {**self.writeback.judge(),
                                                 "settle_s": settled_s}
            counts = {k: v for k, v in judged.items() if isinstance(v, int) and v}
            log(f"write-back: {counts} {judged['problems'][:5]}")

    def _refused_by_fault(self, given_up: dict[str, Any]) -> bool:
        """Whether a delivery Zoho gave up on ended inside a fault that takes the receiver
        down or away from Kafka (its retries span about 15 s before it gives up)."""
        return any(f.kind in ("kill_web", "kafka_restart") and not f.skipped
                   and f.start_wall - 2 <= given_up["at"] <= f.end_wall + 30
                   for f in self.faults)

    def _whole_system(self) -> None:
        """Dropped webhooks and changes without one, repaired by a requested reconcile
        and full sync (the pollers)."""
        cfg, sim = self.config, self.system.sim_url
        http("POST", f"{sim}/_sim/webhooks", WHOLE_SYSTEM_DROPS)
        http("POST", f"{sim}/_sim/changes",
             {"rate": cfg.change_rate, "no_webhook_fraction": WHOLE_SYSTEM_SILENT})
        time.sleep(cfg.whole_system_s)
        began = time.monotonic()
        self._quiet()
        before = asyncio.run(compare(self.services.database_url, sim, self.system.org))
        deadline = began + cfg.converge_timeout_s
        sync = self._full_sync(max(10.0, deadline - time.monotonic()))
        report = self._compare_until_clean(deadline)
        self._verdict("whole_system", began, report, f"(before the sync: {totals(before)})",
                      unrepaired_before_sync=totals(before),
                      final_sync={k: sync.get(k) for k in ("status", "error", "run_id")})

    def _verdict(self, name: str, began: float, report: dict[str, dict[str, Any]],
                 note: str, **extra: Any) -> None:
        """Record and log one verdict's comparison."""
        outcome = {**extra, "converge_s": round(time.monotonic() - began, 1),
                   "differences": report, "converged": bool(report) and clean(report)}
        self.result[name] = outcome
        examples = [e for t in report.values() for e in t.get("examples", ())][:6]
        log(f"{name.replace('_', ' ')}: converged={outcome['converged']} in "
            f"{outcome['converge_s']}s {note}: {totals(report)} {examples}")

    async def _scheduled_runs(self) -> list[str]:
        """Sync runs the scheduler started after the chaos began (must be none)."""
        conn = await asyncpg.connect(self.services.database_url, timeout=10)
        try:
            rows = await conn.fetch(
                "SELECT run_id, run_type FROM sync_runs WHERE org_id = $1 AND source = "
                "'schedule' AND started_at >= $2", self.system.org,
                datetime.fromtimestamp(self.chaos_wall, UTC))
        finally:
            await conn.close()
        return [f"{r['run_type']} {r['run_id']}" for r in rows]

    async def dead_letter_rows(self) -> list[dict[str, Any]]:
        """This run's dead letters, each explained or not."""
        conn = await asyncpg.connect(self.services.database_url, timeout=10)
        try:
            rows = await conn.fetch(
                "SELECT id, stage, error_class, error_message, reason, entity_type, entity_id, "
                "original_topic, attempt, first_failure_at, added_at, status FROM dead_letters "
                "WHERE org_id = $1 OR (org_id IS NULL AND added_at >= $2) ORDER BY added_at",
                self.system.org, datetime.fromtimestamp(self.started_wall, UTC))
        finally:
            await conn.close()
        return [self._explain(dict(r)) for r in rows]

    async def _secrets_in_log(self) -> list[str]:
        """Which secrets the processes' log shows (must be none), faults included: the
        simulator's client secret and refresh token, the webhook secret, the API token and
        every Zoho access token in the shared token table."""
        if self.log_file is None or not self.log_file.is_file():
            return []
        creds = http("GET", f"{self.system.sim_url}/_sim/credentials")
        secrets = {"ZOHO_CLIENT_SECRET": creds["client_secret"],
                   "ZOHO_REFRESH_TOKEN": creds["refresh_token"],
                   "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET, "TDS_API_TOKEN": TOKEN}
        conn = await asyncpg.connect(self.services.database_url, timeout=10)
        try:
            for n, token in enumerate(await conn.fetch(
                    "SELECT access_token FROM zoho_tokens WHERE access_token <> ''")):
                secrets[f"access token {n}"] = token["access_token"]
        finally:
            await conn.close()
        text = self.log_file.read_bytes()
        return sorted(name for name, value in secrets.items()
                      if value and value.encode() in text)

    def unexpected_exit_lines(self) -> list[str]:
        """The supervisor's exit lines no recorded fault explains."""
        if self.log_file is None or not self.log_file.is_file():
            return []
        return unexpected_exits(self.log_file.read_text(errors="replace"), self.faults)

    def _explain(self, row: dict[str, Any]) -> dict[str, Any]:
        failed_at = row["first_failure_at"] or row["added_at"]
        at = failed_at.timestamp() if failed_at is not None else 0.0
        causes = EXPLAINED_BY.get(row["error_class"] or "", frozenset())
        windows = [f"{f.kind}@{f.at_s}s" for f in self.faults
                   if not f.skipped and f.kind in causes and f.start_wall - 2 <= at
                   <= f.end_wall + f.zoho_wait_s + self.config.retry_budget_s + 10]
        missing = [k for k in ("stage", "error_class") if not row[k]]
        if not (row["error_message"] or row["reason"]):
            missing.append("error_message/reason")
        if missing:
            why = f"unexplained: no {', '.join(missing)}"
        elif not causes:
            why = f"unexplained: no injected fault causes {row['error_class']}"
        elif not windows:
            why = "unexplained: first failure outside every fault window"
        else:
            why = "explained by " + ", ".join(windows)
        return {
            "id": row["id"], "stage": row["stage"], "error_class": row["error_class"],
            "reason": row["reason"], "error_message": (row["error_message"] or "")[:300],
            "entity": f"{row['entity_type']}/{row['entity_id']}",
            "original_topic": row["original_topic"], "attempt": row["attempt"],
            "first_failure_at": failed_at.isoformat() if failed_at else None,
            "status": row["status"], "explained": why.startswith("explained"), "why": why,
        }

    def report(self) -> dict[str, Any]:
        """The JSON report."""
        dead = self.result.get("dead_letters", [])
        by_reason: dict[str, int] = {}
        for d in dead:
            key = f"{d['stage']} / {d['error_class']} / {d['reason'] or '-'}"
            by_reason[key] = by_reason.get(key, 0) + 1
        return {
            "seed": self.config.seed, "config": asdict(self.config),
            "faults": [{k: v for k, v in asdict(f).items()
                        if k not in ("start_wall", "end_wall")} for f in self.faults],
            "dead_letters_by_reason": by_reason,
            "unexplained_dead_letters": [d for d in dead if not d["explained"]],
            **self.result,
        }


def main(argv: list[str] | None = None) -> int:
    """`make chaos`: the long run, with a JSON and Markdown report."""
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.scenario")
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("TDS_CHAOS_SECONDS", "300")))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--keep-tokens", action="store_true",
                        help="throttle the token endpoint while processes hold valid tokens "
                             "(default: forget them, so refreshes hit the block)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    # Rounds start until `--seconds` of chaos; the last one may run over (a round cut
    # short fails the run), by at most one round's worth.
    config = ChaosConfig(seed=seed, rounds=1, min_seconds=args.seconds,
                         max_seconds=args.seconds + 600.0, recovery_timeout_s=90.0,
                         converge_timeout_s=240.0, gap_s=(0.5, 3.0),
                         token_refresh_into_block=not args.keep_tokens,
                         writeback_commands=max(45, int(args.seconds / 3)))
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = args.out / "chaos-tds.log"
    log_file.unlink(missing_ok=True)
    with private_services(Path.cwd() / ".cache" / f"chaos-{os.getpid()}") as services:
        report = Scenario(services, config, log_file).run()
    (args.out / "chaos.json").write_text(json.dumps(report, indent=2, default=str))
    (args.out / "chaos.md").write_text(markdown(report))
    print(markdown(report))
    return 1 if failures(report) else 0


if __name__ == "__main__":
    sys.exit(main())
