"""docker-compose.yml can't run here (no Docker engine); check its services and wiring."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tds.commands import images, poll, project, relay, worker, writer
from tds.commands.up import children
from tds.settings import Settings

ROOT = Path(__file__).parents[2]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_services_present() -> None:
    services = _compose()["services"]
    assert {"kafka", "postgres", "prometheus", "tds-init", *PROCESS_TYPES.values()} \
        <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_tds_services_point_at_the_stack() -> None:
    services = _compose()["services"]
    for name in PROCESS_TYPES.values():
        env = services[name]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
        assert env["DATABASE_URL"].endswith("@postgres:5432/tds"), name
        assert services[name]["depends_on"]["tds-init"]["condition"] == \
            "service_completed_successfully"
    init = services["tds-init"]
    assert "tds topics create" in init["entrypoint"][-1] and "tds migrate" in init["entrypoint"][-1]


# Every process type of `tds up` (its child name without the number → the compose service).
PROCESS_TYPES = {"web": "tds-web", "worker": "tds-worker", "projector": "tds-projector",
                 "relay": "tds-relay", "poller": "tds-poller", "images": "tds-images",
                 "writer": "tds-writer"}


ANY = "0.0.0.0"  # noqa: S104  # a container's metrics listen on every interface


def _up_process_types() -> set[str]:
    from tds.cli import build_parser

    args = build_parser().parse_args(["up", "--workers", "2", "--projectors", "2"])
    return {spec.name.split("-")[0] for spec in children(args, Settings.from_env({}))}


def _metrics_port(service: dict[str, Any]) -> int:
    command = service["command"]
    if command[0] == "web":  # /metrics is on the admin listener
        return int(service["environment"]["TDS_ADMIN_PORT"])
    assert command[command.index("--metrics-host") + 1] == ANY, command
    return int(command[command.index("--metrics-port") + 1])


def _scraped() -> dict[str, set[str]]:
    """Prometheus job → the host:port targets it scrapes (DNS names with their port)."""
    mount = _compose()["services"]["prometheus"]["volumes"][0].split(":")[0]
    config = yaml.safe_load((ROOT / mount).read_text())
    jobs: dict[str, set[str]] = {}
    for job in config["scrape_configs"]:
        targets = jobs.setdefault(job["job_name"], set())
        for static in job.get("static_configs", ()):
            targets.update(static["targets"])
        for dns in job.get("dns_sd_configs", ()):
            assert dns["type"] == "A"  # every replica, not one address
            targets.update(f"{name}:{dns['port']}" for name in dns["names"])
    return jobs


def test_every_process_type_of_tds_up_is_a_service_and_scraped() -> None:
    assert _up_process_types() == set(PROCESS_TYPES)
    services = _compose()["services"]
    targets = set().union(*_scraped().values())
    for process, name in PROCESS_TYPES.items():
        service = services[name]
        command = "project" if process == "projector" else "poll" if process == "poller" \
            else process
        assert service["command"][0] == command, name
        assert f"{name}:{_metrics_port(service)}" in targets, f"{name} is not scraped"
    assert "127.0.0.1:8000:8000" in services["tds-web"]["ports"]
    assert "prometheus" in services and set(PROCESS_TYPES.values()) <= \
        set(services["prometheus"]["depends_on"])


def test_the_dashboards_charts_count_every_process() -> None:
    services = _compose()["services"]
    web = services["tds-web"]["environment"]
    charts = Settings.from_env({"TDS_CHART_METRICS_URLS": web["TDS_CHART_METRICS_URLS"]}
                               ).chart_metrics_urls
    for process, name in PROCESS_TYPES.items():
        if process != "web":
            assert f"http://{name}:{_metrics_port(services[name])}/metrics" in charts, name


def test_each_non_web_process_takes_the_metrics_address() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for module in (worker, project, relay, poll, images, writer):
        module.register(sub)
    for command in ("worker", "project", "relay", "poll", "images", "writer"):
        args = parser.parse_args([command, "--metrics-host", ANY, "--metrics-port", "9100"])
        assert (args.metrics_host, args.metrics_port) == (ANY, 9100), command


def test_the_prometheus_configuration_is_valid() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (make system-deps)")
    mount = _compose()["services"]["prometheus"]["volumes"][0].split(":")[0]
    result = subprocess.run([promtool, "check", "config", "--syntax-only", str(ROOT / mount)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_the_web_process_with_the_token() -> None:
    services = _compose()["services"]
    mount = services["prometheus"]["volumes"][0].split(":")[0]
    config = yaml.safe_load((ROOT / mount).read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "tds-web")
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
