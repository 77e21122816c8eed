"""Kafka TLS and SASL settings: checked with errors naming the variable, rendered the same
for librdkafka, faust (aiokafka) and Kafka's console tools, the password never shown."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.faust_auth import broker_credentials
from tds import kafka
from tds.errors import SettingsError
from tds.kafka_security import KafkaSecurity
from tds.provision.kafka_tls import issue, make_ca
from tds.settings import Settings

PASSWORD = "pw-Kq73\"\\x"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA and a certificate it signed (openssl, as `make up` makes them)."""
    folder = tmp_path_factory.mktemp("pki")
    issue(folder, make_ca(folder), "client")
    return folder


def sasl_env(pki: Path, **more: str) -> dict[str, str]:
    return {"KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SSL_CA_FILE": str(pki / "ca.pem"),
            "KAFKA_SASL_MECHANISM": "scram-sha-512", "KAFKA_SASL_USERNAME": "tds",
            "KAFKA_SASL_PASSWORD": PASSWORD, **more}


@pytest.fixture
def process_security() -> Iterator[None]:
    """Restore the process's Kafka security after a test installs one."""
    saved = kafka.security()
    yield
    kafka.use_security(saved)


def test_plaintext_by_default_adds_nothing() -> None:
    security = Settings.from_env({}).kafka_security
    assert security == KafkaSecurity()
    assert security.librdkafka() == {}
    assert broker_credentials(security) is None


def test_sasl_ssl_reaches_librdkafka(pki: Path) -> None:
    config = Settings.from_env(sasl_env(pki)).kafka_security.librdkafka()
    assert config == {"security.protocol": "SASL_SSL", "ssl.ca.location": str(pki / "ca.pem"),
                      "ssl.endpoint.identification.algorithm": "https",
                      "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "tds",
                      "sasl.password": PASSWORD}


def test_hostname_checks_can_be_turned_off(pki: Path) -> None:
    security = Settings.from_env(sasl_env(pki, KAFKA_SSL_CHECK_HOSTNAME="false")).kafka_security
    assert security.librdkafka()["ssl.endpoint.identification.algorithm"] == "none"
    context = security.ssl_context()
    assert context is not None and not context.check_hostname


def test_every_client_config_carries_it(pki: Path, process_security: None) -> None:
    kafka.use_security(Settings.from_env(sasl_env(pki)).kafka_security)
    for config in (kafka.producer_config("h:1"), kafka.consumer_config("h:1", "g"),
                   kafka.admin_config("h:1"), kafka.client_config("h:1", **{"group.id": "x"})):
        assert config["security.protocol"] == "SASL_SSL"
        assert config["sasl.password"] == PASSWORD
        assert config["bootstrap.servers"] == "h:1"


def test_extra_properties_sit_under_tds_own(tmp_path: Path, process_security: None) -> None:
    path = tmp_path / "client.properties"
    path.write_text("# comment\n! also a comment\nssl.crl.location = /etc/crl.pem\nlinger.ms=500\n")
    kafka.use_security(Settings.from_env({"TDS_KAFKA_CONFIG": str(path)}).kafka_security)
    config = kafka.producer_config("h:1")
    assert config["ssl.crl.location"] == "/etc/crl.pem"
    assert config["linger.ms"] == 2  # TDS's tuning wins over the file
    assert kafka.client_config("h:1")["linger.ms"] == "500"


@pytest.mark.parametrize(("text", "message"), [
    ("sasl.password=x\n", "TDS_KAFKA_CONFIG='{path}' line 1 sets sasl.password: use "
                          "KAFKA_SASL_PASSWORD instead"),
    ("a=1\nnot a property\n", "TDS_KAFKA_CONFIG='{path}' line 2 is not key=value"),
    ("bootstrap.servers=x:1\n", "use KAFKA_BOOTSTRAP_SERVERS instead"),
])
def test_a_bad_properties_file_names_the_line(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"TDS_KAFKA_CONFIG": str(path)})
    assert message.format(path=path) in str(info.value)


@pytest.mark.parametrize(("env", "message"), [
    ({"KAFKA_SECURITY_PROTOCOL": "tls"}, "KAFKA_SECURITY_PROTOCOL='tls' is not one of PLAINTEXT"),
    ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM='GSSAPI' is not one of PLAIN"),
    ({"KAFKA_SSL_CA_FILE": "/nowhere/ca.pem"}, "KAFKA_SSL_CA_FILE='/nowhere/ca.pem' is not a "
                                               "readable file"),
    ({"KAFKA_SSL_CHECK_HOSTNAME": "perhaps"}, "KAFKA_SSL_CHECK_HOSTNAME='perhaps' is not a bool"),
    ({"TDS_KAFKA_CONFIG": "/nowhere.properties"}, "TDS_KAFKA_CONFIG='/nowhere.properties' is "
                                                  "not a readable properties file"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_PASSWORD is not set but "
                                              "KAFKA_SECURITY_PROTOCOL=SASL_SSL"),
    ({"KAFKA_SASL_USERNAME": "tds"}, "KAFKA_SASL_USERNAME is set but "
                                     "KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use SASL"),
    ({"KAFKA_SSL_CHECK_HOSTNAME": "false"}, "KAFKA_SSL_CHECK_HOSTNAME=false is set but "
                                            "KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS"),
])
def test_a_wrong_value_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert message in str(info.value)


def test_tls_files_without_tls_are_refused(pki: Path) -> None:
    with pytest.raises(SettingsError, match="KAFKA_SSL_CA_FILE is set but "
                                            "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"):
        Settings.from_env(sasl_env(pki, KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT"))


def test_a_certificate_needs_its_key(pki: Path) -> None:
    with pytest.raises(SettingsError, match="KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go "
                                            "together"):
        Settings.from_env(sasl_env(pki, KAFKA_SSL_CERT_FILE=str(pki / "client.crt")))


def test_the_password_is_masked_and_may_come_from_a_file(pki: Path, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    env = sasl_env(pki, KAFKA_SASL_PASSWORD_FILE=str(secret))
    del env["KAFKA_SASL_PASSWORD"]
    settings = Settings.from_env(env)
    assert settings.kafka_security.password.reveal() == PASSWORD
    assert PASSWORD not in repr(settings) and PASSWORD not in repr(settings.kafka_security)
    assert PASSWORD in settings.secrets()  # so the log redaction hides it too


def test_the_database_password_is_masked_in_repr() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql://tds:hunter2-Zp@db:5432/tds"})
    assert "hunter2-Zp" not in repr(settings) and "hunter2-Zp" not in str(settings)
    assert "postgresql://tds:********@db:5432/tds" in repr(settings)
    assert settings.dsn == "postgresql://tds:hunter2-Zp@db:5432/tds"


def test_faust_gets_the_same_login_and_trust(pki: Path) -> None:
    env = sasl_env(pki, KAFKA_SSL_CERT_FILE=str(pki / "client.crt"),
                   KAFKA_SSL_KEY_FILE=str(pki / "client.key"))
    credentials = broker_credentials(Settings.from_env(env).kafka_security)
    assert credentials is not None
    assert (credentials.username, credentials.password) == ("tds", PASSWORD)  # type: ignore[attr-defined]  # SASLCredentials
    assert credentials.mechanism.value == "SCRAM-SHA-512"  # type: ignore[attr-defined]
    context: ssl.SSLContext = credentials.ssl_context  # type: ignore[attr-defined]
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert context.get_ca_certs()[0]["subject"] == ((("commonName", "TDS throwaway ca"),),)


def test_tls_without_sasl_is_ssl_credentials(pki: Path) -> None:
    env = {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_FILE": str(pki / "ca.pem")}
    credentials = broker_credentials(Settings.from_env(env).kafka_security)
    assert credentials is not None and credentials.protocol.value == "SSL"


def test_console_tools_get_a_java_client_properties(pki: Path, tmp_path: Path) -> None:
    env = sasl_env(pki, KAFKA_SSL_CERT_FILE=str(pki / "client.crt"),
                   KAFKA_SSL_KEY_FILE=str(pki / "client.key"))
    security = Settings.from_env(env).kafka_security
    keystore = security.write_java_keystore(tmp_path / "client.keystore.pem")
    assert keystore is not None and "PRIVATE KEY" in keystore.read_text()
    lines = security.java_properties(keystore).splitlines()
    assert "security.protocol=SASL_SSL" in lines
    assert f"ssl.truststore.location={pki / 'ca.pem'}" in lines
    assert f"ssl.keystore.location={keystore}" in lines
    # Quotes escaped for JAAS, then backslashes doubled for the properties format.
    assert ('sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule '
            'required username="tds" password="pw-Kq73\\\\"\\\\\\\\x";') in lines
