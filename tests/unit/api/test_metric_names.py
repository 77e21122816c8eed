"""Every metric follows Prometheus naming conventions, as promtool checks them."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import fields

from prometheus_client import Counter, Gauge, Histogram

from tds.metrics import Metrics, exposition


def _touch_everything(metrics: Metrics) -> int:
    touched = 0
    for field in fields(metrics):
        metric = getattr(metrics, field.name)
        if not isinstance(metric, Counter | Gauge | Histogram):
            continue
        labels = {name: "x" for name in metric._labelnames}
        child = metric.labels(**labels) if labels else metric
        if isinstance(child, Histogram):
            child.observe(0.01)
        elif isinstance(child, Gauge):
            child.set(1)
        else:
            child.inc()
        touched += 1
    return touched


def test_promtool_accepts_our_metrics() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: `make system-deps` installs Debian's prometheus"
    metrics = Metrics.create()
    assert _touch_everything(metrics) == len(fields(metrics)) - 1  # all but the registry
    text = exposition(metrics.registry)
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert b"tds_webhook_request_duration_seconds_bucket" in text
