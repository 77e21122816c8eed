"""Where a worker's time goes: py-spy samples of one worker, summarised by key frames."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections import Counter
from pathlib import Path


def sample(pid: int, path: Path, busy: threading.Event, duration_s: int
           ) -> threading.Thread | None:
    """Sample a worker with py-spy (PATH or $PY_SPY), if it is installed, from its first
    commit on (past start-up and rebalance) for `duration_s`, idle time included."""
    spy = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if not spy:
        return None

    def record() -> None:
        if not busy.wait(120):
            return
        subprocess.run([spy, "record", "--pid", str(pid), "--duration", str(duration_s),
                        "-r", "200", "--idle", "-f", "raw", "-o", str(path)], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    thread = threading.Thread(target=record, daemon=True)
    thread.start()
    return thread


# The main thread's outermost frame (`python -m tds.cli`).
MAIN_THREAD = "_run_module_as_main"
# Frames whose inclusive share says where an event's time goes.
KEY_FRAMES = {
    "Engine.process": "the engine's batches, all of them",
    "Handler.raw": "  raw events",
    "Processor.decode": "    decode the raw event (fastavro)",
    "Processor.process": "    the pipeline, incl. the versions state",
    "read_event": "      read the body (orjson)",
    "normalise": "      normalise",
    "content_hash": "      content hash",
    "Processor._emit": "      build + encode tds.entity.synced",
    "Outbox.send": "    produce outputs (confluent-kafka)",
    "Histogram.observe": "    latency histogram",
    "Engine.step": "the loop's steps (the rest: poll/consume, the outbox's poll)",
    "Engine.checkpoint": "checkpoints: flush, changelog, commit",
    "Outbox.flush": "  waiting for acknowledgements",
    "ChangelogState.flush_to": "  changelog records",
    "Ledger.count": "sync-run ledger counts",
}


def summarise(path: Path, top: int = 25) -> list[str]:
    """Where the main thread's samples of a py-spy raw profile went: key frames
    (inclusive) and the hottest frames (self time). The other threads are left out: they
    are idle pools and waiting clients, whose samples (with `--idle`) hid the loop's."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or not stack.startswith(MAIN_THREAD):
            continue
        samples = int(n)
        total += samples
        frames = stack.split(";")
        own[frames[-1]] += samples
        for name in {frame.split(" (")[0] for frame in frames} & KEY_FRAMES.keys():
            inclusive[name] += samples
    if not total:
        return []
    lines = ["-- inclusive, the main thread --"]
    lines += [f"{inclusive[name] / total:6.1%}  {label}" for name, label in KEY_FRAMES.items()]
    lines.append("-- self time --")
    lines += [f"{n / total:6.1%}  {frame[:110]}" for frame, n in own.most_common(top)]
    return lines


