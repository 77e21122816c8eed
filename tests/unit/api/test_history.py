"""Chart series are rates of the scraped counters."""

from __future__ import annotations

from api.history import History
from tds.metrics import Metrics, exposition


def test_rates_from_counters() -> None:
    metrics = Metrics.create()
    history = History(read=lambda: exposition(metrics.registry))
    history.sample(now=0.0)
    metrics.events_out.labels("tds.entity.synced").inc(120)
    metrics.events_out.labels("tds.sync.runs").inc(999)  # not throughput
    metrics.events_in.labels("zoho.raw.realtime", "streams").inc(200)
    metrics.dead_letters.labels("streams", "invalid").inc(2)
    metrics.retries_scheduled.labels("streams", "1").inc(8)
    metrics.zoho_api_calls.labels("items", "200").inc(30)
    history.sample(now=30.0)
    series = history.series()
    assert series["throughput_per_min"] == [(30.0, 240.0)]
    assert series["zoho_calls_per_min"] == [(30.0, 60.0)]
    assert series["error_rate_pct"] == [(30.0, 5.0)]


def test_no_samples_no_points() -> None:
    history = History(read=lambda: b"")
    history.sample(now=1.0)
    assert history.series()["throughput_per_min"] == []
