"""A small process supervisor for `tds up`: start children, restart crashed ones, drain.

Each child is a `tds <command>` process. A child that exits while the supervisor is
running is restarted after a backoff that grows with quick successive crashes (so a child
that cannot start does not spin). SIGTERM or SIGINT to the supervisor forwards SIGTERM to
every child, waits for them to drain and commit, and SIGKILLs stragglers after a grace
period.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """One supervised process: a name and the `tds` arguments it runs."""

    name: str
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    next_start: float = 0.0


class Supervisor:
    """Run `specs` until stopped; restart what dies."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        argv_prefix: Sequence[str] = (sys.executable, "-m", "tds.cli"),
        grace_s: float = 30.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self._children = [_Child(spec) for spec in specs]
        self._prefix = tuple(argv_prefix)
        self._grace_s = grace_s
        self._max_backoff_s = max_backoff_s
        self._stopping = False

    def _start(self, child: _Child) -> None:
        env = {**os.environ, **child.spec.env, "TDS_PROCESS_NAME": child.spec.name}
        child.process = subprocess.Popen(
            [*self._prefix, *child.spec.args], env=env,
            stdin=subprocess.DEVNULL,
        )
        child.started_at = time.monotonic()
        logger.info("started %s (pid %d): tds %s", child.spec.name, child.process.pid,
                    " ".join(child.spec.args))

    def stop(self, *_: object) -> None:
        """Ask every child to drain and exit (signal-handler safe)."""
        self._stopping = True

    def restarts(self) -> dict[str, int]:
        """How often each child was restarted."""
        return {c.spec.name: c.restarts for c in self._children}

    def pids(self) -> dict[str, int]:
        """Current pid of each running child."""
        return {c.spec.name: c.process.pid for c in self._children
                if c.process is not None and c.process.poll() is None}

    def run(self, *, poll_s: float = 0.5, max_runtime_s: float | None = None) -> int:
        """Supervise until stopped (or `max_runtime_s` passed); return an exit code."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        deadline = None if max_runtime_s is None else time.monotonic() + max_runtime_s
        for child in self._children:
            self._start(child)
        while not self._stopping:
            if deadline is not None and time.monotonic() > deadline:
                break
            now = time.monotonic()
            for child in self._children:
                process = child.process
                if process is not None and process.poll() is None:
                    continue
                if process is not None:
                    uptime = now - child.started_at
                    # Quick crashes back off exponentially; a long-lived child restarts fast.
                    delay = 0.5 if uptime > 60 else min(self._max_backoff_s,
                                                        0.5 * 2 ** min(child.restarts, 6))
                    logger.warning("%s exited with %s after %.1fs; restarting in %.1fs",
                                   child.spec.name, process.returncode, uptime, delay)
                    child.process = None
                    child.restarts += 1
                    child.next_start = now + delay
                if now >= child.next_start:
                    self._start(child)
            time.sleep(poll_s)
        return self._drain()

    def _drain(self) -> int:
        running = [c.process for c in self._children
                   if c.process is not None and c.process.poll() is None]
        logger.info("stopping %d children", len(running))
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._grace_s
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("pid %d did not drain in %.0fs; killing", process.pid,
                               self._grace_s)
                process.kill()
                process.wait()
        return 0
