"""docker-compose.yml can't run here (no Docker engine); check its services and wiring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_services_present() -> None:
    services = _compose()["services"]
    assert {"kafka", "postgres", "prometheus", "tds-init", "tds-web", "tds-worker",
            "tds-projector", "tds-relay", "tds-poller"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_tds_services_point_at_the_stack() -> None:
    services = _compose()["services"]
    for name in ("tds-web", "tds-worker", "tds-projector", "tds-relay", "tds-poller"):
        env = services[name]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
        assert env["DATABASE_URL"].endswith("@postgres:5432/tds"), name
        assert services[name]["depends_on"]["tds-init"]["condition"] == \
            "service_completed_successfully"
    init = services["tds-init"]
    assert "tds topics create" in init["entrypoint"][-1] and "tds migrate" in init["entrypoint"][-1]


def test_prometheus_scrapes_the_web_process() -> None:
    services = _compose()["services"]
    mount = services["prometheus"]["volumes"][0].split(":")[0]
    config = yaml.safe_load((ROOT / mount).read_text())
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["tds-web:8000"]
    assert "8000:8000" in services["tds-web"]["ports"]


def test_image_installs_the_pinned_set() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-c constraints.txt" in dockerfile
    for folder in ("tds", "schemas", "producers", "streams", "consumers", "projections", "api"):
        assert f"COPY {folder} {folder}" in dockerfile
