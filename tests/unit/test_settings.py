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
