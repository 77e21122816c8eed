"""Kafka over SASL_SSL for real: a private broker with a SASL_SSL listener (throwaway CA,
SCRAM and PLAIN users), the whole system through it, and start-up refusals that name the
setting for a wrong password or an untrusted certificate.

The broker is this module's own (as `tests/chaos` does): the shared one stays plaintext.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tds.provision.common import Services
from tds.provision.kafka import private_node
from tds.provision.kafka_tls import SecureListener, make_ca
from tests.support.pipeline import TOKEN, full_sync, http, running_system
from tests.support.truth import clean, compare


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureListener]:
    """A private broker with a SASL_SSL listener, stopped after the module."""
    with private_node(tmp_path_factory.mktemp("kafka-sasl"), secure=True) as node:
        assert node.secure is not None
        yield node.secure


def tds(env: dict[str, str], *args: str, timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    """Run a `tds` command with `env` over the process's own (bounded)."""
    return subprocess.run([sys.executable, "-m", "tds.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout_s, check=False)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_each_mechanism_logs_in(secure_kafka: SecureListener, mechanism: str) -> None:
    env = {**secure_kafka.client_env(), "KAFKA_SASL_MECHANISM": mechanism}
    result = tds(env, "topics", "create")
    assert result.returncode == 0, result.stderr
    check = tds(env, "topics", "check")
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("command", [("worker",), ("project",), ("relay",), ("tail", "x")])
def test_a_wrong_password_stops_the_process_naming_the_setting(
        secure_kafka: SecureListener, command: tuple[str, ...]) -> None:
    env = {**secure_kafka.client_env(), "KAFKA_SASL_PASSWORD_FILE": "",
           "KAFKA_SASL_PASSWORD": "not-the-password"}
    result = tds(env, *command)
    assert result.returncode == 1
    assert "Kafka refused the SASL login: check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD" \
        in result.stderr
    assert "not-the-password" not in result.stderr


def test_an_untrusted_certificate_stops_the_process_naming_the_setting(
        secure_kafka: SecureListener, tmp_path: Path) -> None:
    other_ca = make_ca(tmp_path, "other")
    env = {**secure_kafka.client_env(), "KAFKA_SSL_CA_FILE": str(other_ca)}
    result = tds(env, "worker")
    assert result.returncode == 1
    assert "the TLS handshake with Kafka failed: check that KAFKA_SSL_CA_FILE signed the " \
           "broker's certificate" in result.stderr
    assert "certificate verify failed" in result.stderr


def test_the_console_tools_use_the_written_properties(secure_kafka: SecureListener,
                                                      tmp_path: Path) -> None:
    properties = tmp_path / "client.properties"
    written = tds(secure_kafka.client_env(), "kafka-properties", "-o", str(properties))
    assert written.returncode == 0, written.stderr
    assert oct(properties.stat().st_mode & 0o777) == "0o600"
    topics = secure_kafka.folder.parent / "bin" / "kafka-topics.sh"  # the private node's
    topic = f"console-{uuid.uuid4().hex[:8]}"
    for action in (["--create", "--topic", topic, "--partitions", "1"], ["--list"]):
        done = subprocess.run([str(topics), "--bootstrap-server", secure_kafka.bootstrap,
                               "--command-config", str(properties), *action],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    assert topic in done.stdout.split()


async def test_the_whole_system_runs_over_sasl_ssl(secure_kafka: SecureListener,
                                                   services: Services) -> None:
    """Webhooks, pollers, faust workers, projector, relay and the API's Kafka child all
    through the SASL_SSL listener: the read models must equal the simulator's truth."""
    org = str(random.randrange(10**10, 10**11))
    secured = Services(kafka_bootstrap_servers=secure_kafka.bootstrap,
                       database_url=services.database_url)
    sim_args = ("--items", "40", "--contacts", "10", "--salesorders", "10", "--invoices", "10")
    with running_system(secured, org=org, workers=1, sim_args=sim_args,
                        extra_env=secure_kafka.client_env()) as system:
        status = await asyncio.to_thread(full_sync, system.web_url, 180)
        assert status.get("status") == "completed", status
        http("POST", f"{system.sim_url}/_sim/changes", {"apply": 20})  # webhooks
        report: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            report = await compare(services.database_url, system.sim_url, org)
            if clean(report):
                break
            await asyncio.sleep(2)
        assert clean(report), report
        assert report["items"]["rows"] > 0
        # The API's Kafka inspection child read the faust worker's group over SASL_SSL.
        health = http("GET", f"{system.web_url}/api/tds/health", None, TOKEN)
        assert health["worker_engines"] == {"faust": 1}, health
