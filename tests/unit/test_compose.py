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
    job = config["scrape_configs"][0]
    assert job["static_configs"][0]["targets"] == ["tds-web:8000"]
    # /metrics is an admin read: the token, from the same Docker secret as TDS's.
    assert job["authorization"]["credentials_file"] == "/run/secrets/tds_api_token"
    assert "tds_api_token" in services["prometheus"]["secrets"]


def test_the_webhook_port_is_published_and_the_admin_port_only_on_loopback() -> None:
    compose = _compose()
    web = compose["services"]["tds-web"]
    assert web["ports"] == ["8001:8001", "127.0.0.1:8000:8000"]
    assert web["environment"]["TDS_WEBHOOK_PORT"] == "8001"
    assert web["environment"]["TDS_ADMIN_PORT"] == "8000"
    assert web["environment"]["TDS_API_TOKEN_FILE"] == "/run/secrets/tds_api_token"
    assert "file" in compose["secrets"]["tds_api_token"]


def test_image_installs_the_pinned_set() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-c constraints.txt" in dockerfile
    for folder in ("tds", "schemas", "producers", "streams", "consumers", "projections", "api"):
        assert f"COPY {folder} {folder}" in dockerfile
