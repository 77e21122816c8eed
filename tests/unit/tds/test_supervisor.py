"""The supervisor restarts a crashed child and drains the rest on stop."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from tds.supervisor import ChildSpec, Supervisor
from tests.support.waits import wait_until

CHILD = """
import os, signal, sys, time
from pathlib import Path
log = Path(sys.argv[2])
with log.open("a") as f:
    f.write(f"start {os.getpid()}\\n")
if sys.argv[1] == "crash":
    sys.exit(3)
def term(*_):
    with log.open("a") as f:
        f.write("drained\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
for _ in range(600):
    time.sleep(0.1)
"""


def test_restart_and_drain(tmp_path: Path) -> None:
    crash_log, steady_log = tmp_path / "crash.log", tmp_path / "steady.log"
    supervisor = Supervisor(
        [ChildSpec("crasher", ("crash", str(crash_log))),
         ChildSpec("steady", ("steady", str(steady_log)))],
        argv_prefix=(sys.executable, "-c", CHILD), grace_s=10, max_backoff_s=0.5,
    )
    at_stop: list[int] = []

    def stop_after_restarts() -> None:
        wait_until(lambda: crash_log.is_file() and crash_log.read_text().count("start") >= 3,
                   30, what="the crasher started three times")
        at_stop.append(supervisor.restarts()["crasher"])
        supervisor.stop()

    stopper = threading.Thread(target=stop_after_restarts, daemon=True)
    stopper.start()
    assert supervisor.run(poll_s=0.1, max_runtime_s=60) == 0
    stopper.join(5)
    # Ended by stop(), not by max_runtime_s: no restart after it (backoff ≤ 0.5 s would
    # have restarted the crasher dozens of times before the runtime bound).
    assert at_stop and supervisor.restarts()["crasher"] <= at_stop[0] + 1
    crashes = crash_log.read_text().count("start")
    assert crashes >= 3, "a crashed child is restarted"
    assert supervisor.restarts()["crasher"] >= 2
    assert supervisor.restarts()["steady"] == 0
    assert steady_log.read_text().splitlines()[-1] == "drained"
