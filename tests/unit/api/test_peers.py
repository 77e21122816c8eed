"""The dashboard's charts under docker-compose: the web process adds the counters of the
other processes' /metrics (every replica behind a name) to its own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, generate_latest

from api.history import read_sample
from api.peers import expand, read_all
from schemas.topics import ENTITY_SYNCED
from tds.settings import Settings


def _exposition(synced: float, consumed: float) -> bytes:
    registry = CollectorRegistry()
    Counter("tds_events_produced", "produced", ["topic"], registry=registry).labels(
        ENTITY_SYNCED).inc(synced)
    Counter("tds_events_consumed", "consumed", ["topic", "stage"], registry=registry).labels(
        "zoho.raw.bulk", "streams").inc(consumed)
    return generate_latest(registry)


@contextmanager
def _serving(body: bytes) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def test_the_charts_count_every_process() -> None:
    own = _exposition(synced=5, consumed=0)
    with _serving(_exposition(synced=0, consumed=40)) as worker, \
            _serving(_exposition(synced=7, consumed=3)) as other:
        peers = read_all((worker, other, "http://127.0.0.1:1/metrics"))  # one is down
    sample = read_sample(own + b"\n" + peers, at=0.0)
    assert (sample.synced, sample.consumed) == (12.0, 43.0)


def test_a_name_counts_each_of_its_addresses() -> None:
    local = expand("http://localhost:9100/metrics")
    assert "http://127.0.0.1:9100/metrics" in local
    assert set(local) <= {"http://127.0.0.1:9100/metrics", "http://[::1]:9100/metrics"}
    assert expand("http://no-such-host.invalid:9100/metrics") == [
        "http://no-such-host.invalid:9100/metrics"]


def test_the_setting_takes_only_metrics_addresses() -> None:
    settings = Settings.from_env({"TDS_CHART_METRICS_URLS":
                                  "http://tds-worker:9100/metrics, http://tds-relay:9100/metrics"})
    assert settings.chart_metrics_urls == ("http://tds-worker:9100/metrics",
                                           "http://tds-relay:9100/metrics")
    try:
        Settings.from_env({"TDS_CHART_METRICS_URLS": "tds-worker:9100"})
    except Exception as exc:
        assert "TDS_CHART_METRICS_URLS" in str(exc)
    else:
        raise AssertionError("a value that is no http(s) address was accepted")
