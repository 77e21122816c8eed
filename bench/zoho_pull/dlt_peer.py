"""The peer: dlt's REST API source pulling the same items into PostgreSQL.

Run by bench.zoho_pull in its own process; prints one JSON line with its timings. dlt
pages by number (stopping on `page_context.has_more_page`) and, on a 429, retries with
exponential backoff (its defaults give up after 5 attempts, which cannot outlast a
one-minute window, so the bench lets it retry for up to 50 attempts of at most 60 s).
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from typing import Any

import orjson
import requests


def main() -> int:
    """Pull, normalise and load; print the timings as JSON."""
    base = os.environ["BENCH_SIM_BASE"]
    creds = orjson.loads(os.environ["BENCH_CREDS"])
    per_page = int(os.environ["BENCH_PER_PAGE"])
    os.environ.setdefault("RUNTIME__REQUEST_MAX_ATTEMPTS", "50")
    os.environ.setdefault("RUNTIME__REQUEST_MAX_RETRY_DELAY", "60")
    # dlt insists on a password; the local server trusts loopback and ignores it.
    os.environ.setdefault("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", "unused")
    dlt: Any = importlib.import_module("dlt")
    rest_api: Any = importlib.import_module("dlt.sources.rest_api")
    token = requests.post(f"{base}/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": creds["client_id"],
        "client_secret": creds["client_secret"], "refresh_token": creds["refresh_token"]},
        timeout=30).json()["access_token"]
    source = rest_api.rest_api_source({
        "client": {
            "base_url": f"{base}/inventory/v1/",
            "headers": {"Authorization": f"Zoho-oauthtoken {token}"},
            "paginator": {"type": "page_number", "base_page": 1, "page_param": "page",
                          "total_path": None, "has_more_path": "page_context.has_more_page"},
        },
        "resources": [{
            "name": "items",
            "primary_key": "item_id",
            "write_disposition": "replace",
            "endpoint": {"path": "items", "data_selector": "items",
                         "params": {"organization_id": creds["organization_id"],
                                    "per_page": per_page}},
        }],
    })
    with tempfile.TemporaryDirectory() as folder:
        pipeline = dlt.pipeline(pipeline_name="zoho_pull_bench", pipelines_dir=folder,
                                destination=dlt.destinations.postgres(
                                    credentials=os.environ["BENCH_DSN"]),
                                dataset_name=os.environ["BENCH_SCHEMA"])
        started = time.monotonic()
        pipeline.extract(source)
        extracted = time.monotonic()
        pipeline.normalize()
        normalized = time.monotonic()
        pipeline.load()
        loaded = time.monotonic()
        rows = pipeline.last_trace.last_normalize_info.row_counts.get("items", 0)
        with pipeline.sql_client() as client:
            client.execute_sql(f"DROP SCHEMA IF EXISTS {os.environ['BENCH_SCHEMA']} CASCADE")
    print(orjson.dumps({"records": rows, "wall_s": loaded - started,
                        "extract_s": extracted - started, "normalize_s": normalized - extracted,
                        "load_s": loaded - normalized,
                        "retries": {"max_attempts": 50, "max_delay_s": 60}}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
