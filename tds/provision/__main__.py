"""`python -m tds.provision up|down|env`: what `make up`, `make down` and `make test` call."""

from __future__ import annotations

import argparse
import fcntl
import logging
import sys

from tds.errors import ProvisionError, SettingsError
from tds.provision.common import Services, cache_dir, state_dir, write_services_env
from tds.provision.kafka import ensure_kafka, install_tools, secure_listener, stop_kafka
from tds.provision.kafka_tls import SecureListener
from tds.provision.postgres import ensure_postgres, stop_postgres
from tds.settings import Settings, read_one


def up() -> Services:
    """Provision both services (reusing running ones) and record their addresses.

    An exclusive file lock makes concurrent callers (parallel test runs, `make up` beside
    a test) take turns, so two never start a second server on the same folder.
    """
    secure: bool = read_one("TDS_KAFKA_SASL_SSL")
    with (cache_dir() / "provision.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            services = Services(kafka_bootstrap_servers=ensure_kafka(secure=secure),
                                database_url=ensure_postgres(), kafka_home=_tools_home())
            write_services_env(services)
            listener = secure_listener()
            if secure and listener is not None:
                _write_secure_client(listener)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return services


def _write_secure_client(listener: SecureListener) -> None:
    """`.tds/kafka-sasl.env` (TDS's settings) and `.tds/kafka-sasl.properties` (Kafka's
    console tools) for the SASL_SSL listener."""
    env = listener.client_env()
    (state_dir() / "kafka-sasl.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    properties = state_dir() / "kafka-sasl.properties"
    properties.touch(mode=0o600)
    properties.write_text(Settings.from_env(env).kafka_security.java_properties())


def _tools_home() -> str:
    """Where Kafka's console scripts are; with a broker of the caller's and no Maven they
    cannot be installed, which is said, not fatal."""
    try:
        return str(install_tools())
    except ProvisionError as exc:
        logging.getLogger(__name__).warning("Kafka's console tools not installed: %s", exc)
        return ""


def down() -> None:
    """Stop what `up` started and forget its addresses."""
    kafka = stop_kafka()
    postgres = stop_postgres()
    for name in ("services.env", "kafka-sasl.env", "kafka-sasl.properties"):
        (state_dir() / name).unlink(missing_ok=True)
    print(f"stopped: kafka={'yes' if kafka else 'not running'}, "
          f"postgres={'yes' if postgres else 'not running'}")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m tds.provision",
                                     description="Start or stop TDS's Kafka and PostgreSQL.")
    parser.add_argument("action", choices=("up", "down", "env"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        if args.action == "down":
            down()
            return 0
        services = up()
    except (ProvisionError, SettingsError) as exc:
        print(f"provisioning failed: {exc}", file=sys.stderr)
        return 1
    if args.action == "env":
        print(services.env_lines(), end="")
    else:
        print(f"Kafka:      {services.kafka_bootstrap_servers}")
        print(f"PostgreSQL: {services.database_url}")
        if services.kafka_home:
            print(f"Kafka tools: {services.kafka_home}/bin (KAFKA_HOME)")
        print(f"written to  {state_dir() / 'services.env'}")
        listener = secure_listener()
        if listener is not None:
            print(f"SASL_SSL:   {listener.bootstrap} (settings: {state_dir() / 'kafka-sasl.env'}, "
                  f"console tools: {state_dir() / 'kafka-sasl.properties'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
