"""Settings: the seed's defaults, clear errors naming the variable, secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tds.errors import SettingsError
from tds.settings import VARIABLES, Settings, find_services_env, load_env_file

SEED_DEFAULTS = {
    "worker_count": 3, "batch_size": 100, "retry_max_attempts": 5, "retry_backoff_s": 60.0,
    "enable_auto_sync": True, "stock_sync_interval_min": 30.0,
}


def test_defaults_are_the_guides() -> None:
    settings = Settings.from_env({})
    for name, value in SEED_DEFAULTS.items():
        assert getattr(settings, name) == value
    assert settings.retry_delays_s == (60.0, 120.0, 240.0, 480.0, 960.0)


def test_every_seed_variable_is_read() -> None:
    names = {v.env for v in VARIABLES}
    seed = {"ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_ORGANIZATION_ID", "ZOHO_REFRESH_TOKEN",
            "TDS_WORKER_COUNT", "TDS_BATCH_SIZE", "TDS_RETRY_MAX_ATTEMPTS",
            "TDS_RETRY_BACKOFF_SECONDS", "TDS_ENABLE_AUTO_SYNC",
            "TDS_STOCK_SYNC_INTERVAL_MINUTES", "TDS_LOG_LEVEL", "TDS_ENABLE_QUERY_LOGGING",
            "TDS_WORKER_THREADS", "TDS_ENABLE_CACHE", "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL",
            "ZOHO_WEBHOOK_SECRET", "TDS_API_TOKEN", "ZOHO_DC", "ZOHO_API_BASE"}
    assert seed <= names


def test_the_readme_documents_every_variable() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [v.env for v in VARIABLES if f"`{v.env}`" not in readme]
    assert missing == []


@pytest.mark.parametrize(("env", "message"), [
    ({"TDS_BATCH_SIZE": "abc"}, "TDS_BATCH_SIZE='abc' is not a whole number (1-10000)"),
    ({"TDS_BATCH_SIZE": "0"}, "TDS_BATCH_SIZE='0' is out of range (1-10000)"),
    ({"TDS_ENABLE_AUTO_SYNC": "maybe"}, "TDS_ENABLE_AUTO_SYNC='maybe' is not a boolean"),
    ({"ZOHO_DC": "mars"}, "ZOHO_DC='mars' is not one of com, eu"),
    ({"TDS_LOG_LEVEL": "loud"}, "TDS_LOG_LEVEL='loud' is not one of DEBUG"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "localhost"}, "is not a comma-separated list of host:port"),
    ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL='mysql://x' is not a URL"),
    ({"ZOHO_ORGANIZATION_ID": "org-1"}, "is not a Zoho organization id"),
    ({"TDS_RETRY_BACKOFF_SECONDS": "-1"}, "is out of range"),
])
def test_malformed_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert message in str(info.value)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"TDS_BATCH_SIZE": "x", "TDS_WORKER_COUNT": "y"})
    assert len(info.value.problems) == 2


def test_missing_services_say_how_to_get_them() -> None:
    settings = Settings.from_env({})
    with pytest.raises(SettingsError, match="KAFKA_BOOTSTRAP_SERVERS is not set: run `make up`"):
        _ = settings.kafka
    with pytest.raises(SettingsError, match="DATABASE_URL is not set"):
        _ = settings.dsn


def test_secrets_are_masked() -> None:
    settings = Settings.from_env({"ZOHO_CLIENT_SECRET": "s3cr3t-value",
                                  "ZOHO_REFRESH_TOKEN": "1000.refresh",
                                  "TDS_API_TOKEN": "api-token-xyz",
                                  "ZOHO_WEBHOOK_SECRET": "hook-secret-1"})
    shown = repr(settings) + str(settings)
    for secret in ("s3cr3t-value", "1000.refresh", "api-token-xyz", "hook-secret-1"):
        assert secret not in shown
    assert settings.zoho_client_secret.reveal() == "s3cr3t-value"
    assert sorted(settings.secrets()) == sorted(
        ["s3cr3t-value", "1000.refresh", "api-token-xyz", "hook-secret-1"])


def test_a_malformed_secret_is_not_echoed() -> None:
    # Secrets never fail parsing, but the error path must not print them either way.
    settings = Settings.from_env({"TDS_API_TOKEN": "  padded  "})
    assert settings.api_token.reveal() == "padded"


def test_services_env_fills_only_unset_variables(tmp_path: Path) -> None:
    (tmp_path / ".tds").mkdir()
    path = tmp_path / ".tds" / "services.env"
    path.write_text("KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1\n# comment\nDATABASE_URL=postgresql://a@b/c\n")
    env = {"DATABASE_URL": "postgresql://mine@host/db"}
    load_env_file(path, env)
    assert env == {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                   "DATABASE_URL": "postgresql://mine@host/db"}
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_services_env(nested) == path


SECRET_VARIABLES = ("ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN", "ZOHO_WEBHOOK_SECRET",
                    "TDS_API_TOKEN", "KAFKA_SASL_PASSWORD")


def test_the_secret_variables_are_the_masked_ones() -> None:
    assert {v.env for v in VARIABLES if v.secret} == set(SECRET_VARIABLES)


@pytest.mark.parametrize("name", SECRET_VARIABLES)
def test_a_secret_comes_from_its_file(name: str, tmp_path: Path) -> None:
    path = tmp_path / name.lower()
    path.write_text("from-a-file-Qw81\n")  # files end with a newline; it is not part of it
    settings = Settings.from_env({f"{name}_FILE": str(path), **COMPANIONS.get(name, {})})
    field = next(v.field for v in VARIABLES if v.env == name)
    assert getattr(settings, field).reveal() == "from-a-file-Qw81"
    assert "from-a-file-Qw81" not in repr(settings)
    assert settings.secrets() == ["from-a-file-Qw81"]


# What a secret needs beside it to be valid.
COMPANIONS = {"KAFKA_SASL_PASSWORD": {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                                      "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u"}}


@pytest.mark.parametrize("name", SECRET_VARIABLES)
def test_a_secret_and_its_file_together_are_refused(name: str, tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("file-value-Lm02")
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: "env-value-Zx11", f"{name}_FILE": str(path)})
    message = str(info.value)
    assert f"{name} and {name}_FILE are both set" in message
    assert "file-value-Lm02" not in message and "env-value-Zx11" not in message


def test_an_empty_variable_beside_its_file_counts_as_unset(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("tok-Pp19")
    settings = Settings.from_env({"TDS_API_TOKEN": "", "TDS_API_TOKEN_FILE": str(path)})
    assert settings.api_token.reveal() == "tok-Pp19"


def test_an_unreadable_or_empty_secret_file_names_the_variable(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"ZOHO_CLIENT_SECRET_FILE": str(tmp_path / "missing"),
                           "ZOHO_WEBHOOK_SECRET_FILE": str(empty)})
    assert info.value.problems == [
        f"ZOHO_CLIENT_SECRET_FILE={str(tmp_path / 'missing')!r} cannot be read: "
        "No such file or directory",
        f"ZOHO_WEBHOOK_SECRET_FILE={str(empty)!r} is an empty file"]


def test_listener_settings_and_their_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.admin_host, settings.admin_port) == ("127.0.0.1", 8000)
    assert (settings.webhook_host, settings.webhook_port) == ("127.0.0.1", 8001)
    assert settings.api_open_reads is False
    with pytest.raises(SettingsError, match="TDS_ADMIN_PORT='0' is out of range"):
        Settings.from_env({"TDS_ADMIN_PORT": "0"})
    with pytest.raises(SettingsError, match="TDS_WEBHOOK_HOST='a b' is not a host"):
        Settings.from_env({"TDS_WEBHOOK_HOST": "a b"})


def test_database_tls_options_are_checked(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    good = f"postgresql://tds@db.example/tds?sslmode=verify-full&sslrootcert={ca}"
    assert Settings.from_env({"DATABASE_URL": good}).dsn == good
    with pytest.raises(SettingsError, match="sslmode='verify-everything', not one of"):
        Settings.from_env({"DATABASE_URL": "postgresql://h/db?sslmode=verify-everything"})
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"DATABASE_URL": "postgresql://tds:pw-Kk31@h/db?sslmode=verify-full"
                                           f"&sslrootcert={tmp_path / 'nope.crt'}"})
    assert "DATABASE_URL='postgresql://tds:********@h/db" in str(info.value)
    assert "which is not a readable file" in str(info.value)
    assert "pw-Kk31" not in str(info.value)
