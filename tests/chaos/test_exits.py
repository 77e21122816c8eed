"""The chaos report's account of process exits (no services needed)."""

from tests.chaos.faults import Fault, unexpected_exits
from tests.chaos.report import failures

LOG = """\
06:50:18 WARNING tds.supervisor: relay exited with -9 after 24.6s; restarting in 0.5s
06:50:24 WARNING tds.supervisor: worker-1 exited with -9 after 30.6s; restarting in 0.5s
06:51:02 WARNING tds.supervisor: worker-2 exited with -11 after 70.1s; restarting in 0.5s
06:51:09 WARNING tds.supervisor: worker-1 exited with -9 after 45.0s; restarting in 0.5s
06:51:10 INFO tds.streams: assigned zoho.raw.bulk[0]
06:51:30 WARNING tds.supervisor: projector-2 exited with 1 after 3.0s; restarting in 1.0s
"""


def test_only_exits_no_kill_of_ours_explains_are_reported() -> None:
    faults = [Fault("kill_relay", "relay"), Fault("kill_worker", "worker-1"),
              Fault("kill_web", "", skipped="no running web process")]
    found = unexpected_exits(LOG, faults)
    # worker-1's second SIGKILL outnumbers the one kill of it: reported, like the crashes.
    assert [line.split(": ", 1)[1].split(" after")[0] for line in found] == [
        "worker-2 exited with -11", "worker-1 exited with -9", "projector-2 exited with 1"]


def test_a_quiet_log_has_none() -> None:
    assert unexpected_exits("2026-11-29 INFO tds.up: started\n", []) == []


def test_an_unexplained_exit_fails_the_run() -> None:
    report = {"event_path": {"converged": True}, "whole_system": {"converged": True},
              "faults": [], "unexplained_dead_letters": [], "config": {"recovery_timeout_s": 30}}
    assert failures(report) == []
    line = "06:51:02 WARNING tds.supervisor: worker-2 exited with -11 after 70.1s"
    assert failures({**report, "unexpected_exits": [line]}) == [
        f"a process exited without a fault to explain it: {line}"]


def test_every_planned_fault_must_run_and_no_schedule_may_repair() -> None:
    fault = {"kind": "kill_web", "target": "web", "skipped": "", "recovery_s": 40.0,
             "zoho_wait_s": 0.0, "probes_s": 40.0, "healthy_s": 1.0, "detail": {}}
    report = {"event_path": {"converged": True}, "whole_system": {"converged": True},
              "faults": [fault], "unexplained_dead_letters": [],
              "config": {"recovery_timeout_s": 30}}
    assert failures(report) == [
        "kill_web web did not recover in 30s (+ 0.0s Zoho imposed): probes 40.0, healthy 1.0  "]
    # The same recovery passes when Zoho imposed 15 s of it (its rate window).
    assert failures({**report, "faults": [{**fault, "zoho_wait_s": 15.0}]}) == []
    ok = {**report, "faults": []}
    assert failures({**ok, "not_run": ["kafka_restart"]}) == [
        "fault kafka_restart was planned but did not fit the chaos time budget"]
    assert failures({**ok, "faults": [{**fault, "skipped": "not our Kafka"}]}) == [
        "fault kill_web was skipped: not our Kafka"]
    assert failures({**ok, "scheduled_runs_in_chaos": ["incremental r1"]}) == [
        "a scheduled sync ran during the event-path chaos: incremental r1"]
    lost = {"items": {"lost": 1, "examples": ["lost: items/1"]}}
    assert failures({**ok, "event_path": {"converged": False, "differences": lost}}) == [
        "event_path: read models differ from Zoho: {'lost': 1, 'extra': 0, 'stale': 0, "
        "'wrong_value': 0, 'newer_than_zoho': 0, 'duplicates': 0} ['lost: items/1']"]
