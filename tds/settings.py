"""One frozen Settings object, read from the environment once at the entry point.

Every variable is listed in `VARIABLES` with its parser and default, so the README table,
the error messages and the parsing all come from one place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tds.errors import SettingsError
from tds.kafka_security import MECHANISMS, PROTOCOLS, KafkaSecurity, parse_properties
from tds.secret import Secret

ZOHO_DCS = ("com", "eu", "in", "com.au", "jp", "ca", "com.cn", "sa")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
WEBHOOK_AUTH_MODES = ("hmac", "header", "query")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"is not a whole number ({lo}-{hi})") from None
        if not lo <= value <= hi:
            raise ValueError(f"is out of range ({lo}-{hi})")
        return value

    return parse


def _float(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"is not a number ({lo:g}-{hi:g})") from None
        if not lo <= value <= hi:
            raise ValueError(f"is out of range ({lo:g}-{hi:g})")
        return value

    return parse


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("is not a boolean (true/false, 1/0, yes/no, on/off)")


def _choice(options: tuple[str, ...], upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in options:
            raise ValueError(f"is not one of {', '.join(options)}")
        return value

    return parse


def _str(raw: str) -> str:
    return raw.strip()


def _metrics_urls(raw: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in raw.split(",") if u.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s)://host:port/metrics address")
    return urls


def _opt_str(raw: str) -> str | None:
    return raw.strip() or None


def _opt_choice(options: tuple[str, ...]) -> Callable[[str], str | None]:
    def parse(raw: str) -> str | None:
        return _choice(options, upper=True)(raw) if raw.strip() else None

    return parse


def _file(raw: str) -> str | None:
    path = raw.strip()
    if path and not Path(path).is_file():
        raise ValueError("is not a readable file")
    return path or None


def _properties(raw: str) -> tuple[tuple[str, str], ...]:
    path = raw.strip()
    if not path:
        return ()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise ValueError("is not a readable properties file") from None
    return parse_properties(text)


def _secret(raw: str) -> Secret:
    return Secret(raw.strip())


def _url(schemes: tuple[str, ...]) -> Callable[[str], str | None]:
    def parse(raw: str) -> str | None:
        value = raw.strip()
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"is not a URL ({'/'.join(schemes)}://host...)")
        return value.rstrip("/")

    return parse


_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _dsn(raw: str) -> str | None:
    """A PostgreSQL URL whose TLS options (`sslmode`, `sslrootcert`) are usable as given."""
    value = _url(("postgresql", "postgres"))(raw)
    if value is None:
        return None
    query = parse_qs(urlsplit(value).query)
    mode = query.get("sslmode", ["prefer"])[-1]
    if mode not in _SSLMODES:
        raise ValueError(f"has sslmode={mode!r}, not one of {', '.join(_SSLMODES)}")
    for option in ("sslrootcert", "sslcert", "sslkey", "sslcrl"):
        path = query.get(option, [""])[-1]
        if path and path != "system" and not Path(path).is_file():
            raise ValueError(f"has {option}={path!r}, which is not a readable file")
    return value


def _without_password(text: str) -> str:
    """`text` with the password of a URL's user part masked, for error messages."""
    parts = urlsplit(text.strip())
    if parts.password is None or parts.hostname is None:
        return text
    return text.replace(f":{parts.password}@", ":********@", 1)


def _host(raw: str) -> str:
    value = raw.strip()
    if not value or any(c.isspace() or c in "/@" for c in value):
        raise ValueError("is not a host name or address to listen on")
    return value


def _bootstrap(raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    for server in value.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("is not a comma-separated list of host:port")
    return value


def _org_id(raw: str) -> str | None:
    value = raw.strip()
    if value and not value.isdigit():
        raise ValueError("is not a Zoho organization id (digits only)")
    return value or None


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: its name, parser, default and meaning."""

    env: str
    field: str
    parse: Callable[[str], Any]
    default: str
    doc: str

    @property
    def secret(self) -> bool:
        """True for credentials: masked in errors, also readable from `<NAME>_FILE`."""
        return self.parse is _secret


VARIABLES: tuple[Variable, ...] = (
    Variable("ZOHO_CLIENT_ID", "zoho_client_id", _opt_str, "",
             "OAuth client id of the Zoho API console app"),
    Variable("ZOHO_CLIENT_SECRET", "zoho_client_secret", _secret, "",
             "OAuth client secret (masked in logs and output)"),
    Variable("ZOHO_ORGANIZATION_ID", "zoho_organization_id", _org_id, "",
             "Zoho organization id sent as `organization_id` on every API call"),
    Variable("ZOHO_REFRESH_TOKEN", "zoho_refresh_token", _secret, "",
             "OAuth refresh token; access tokens are derived from it and shared by all processes"),
    Variable("ZOHO_DC", "zoho_dc", _choice(ZOHO_DCS), "com",
             "Zoho data centre: picks the accounts host (e.g. `ca` → accounts.zohocloud.ca)"),
    Variable("ZOHO_API_BASE", "zoho_api_base", _url(("http", "https")), "",
             "Override of the API and accounts base URL (the simulator's address in tests/demo)"),
    Variable("ZOHO_DAILY_LIMIT", "zoho_daily_limit", _int(0, 100_000_000), "10000",
             "Zoho calls a day for the organization, shared by every TDS process (your "
             "plan's: 1000 on Free); webhook pings and write-backs may spend all of it, manual "
             "runs 95 %, scheduled syncs 90 %, full syncs 85 %, image downloads 80 %; "
             "counted per UTC day; 0: no limit of ours (only Zoho's 429/45 stops calls)"),
    Variable("ZOHO_CONCURRENCY", "zoho_concurrency", _int(1, 100), "5",
             "Zoho calls in flight at once for the organization, across every TDS process "
             "(Zoho allows 5 on Free plans, 10 on paid ones); lowered for a minute after a "
             "429/1070"),
    Variable("ZOHO_WEBHOOK_SECRET", "zoho_webhook_secret", _secret, "",
             "Webhook secret: HMAC key (or shared secret, see ZOHO_WEBHOOK_AUTH)"),
    Variable("ZOHO_WEBHOOK_AUTH", "zoho_webhook_auth", _choice(WEBHOOK_AUTH_MODES), "hmac",
             "How webhooks prove authenticity: `hmac` (X-Zoho-Webhook-Signature), `header` or "
             "`query` (shared secret)"),
    Variable("ZOHO_WEBHOOK_SECRET_HEADER", "zoho_webhook_secret_header", _str,
             "X-Zoho-Webhook-Secret",
             "Header carrying the shared secret when ZOHO_WEBHOOK_AUTH=header"),
    Variable("ZOHO_WEBHOOK_SECRET_PARAM", "zoho_webhook_secret_param", _str, "secret",
             "Query parameter carrying the shared secret when ZOHO_WEBHOOK_AUTH=query"),
    Variable("TDS_WEBHOOK_ALLOW_UNSIGNED", "webhook_allow_unsigned", _bool, "false",
             "With no ZOHO_WEBHOOK_SECRET: accept unauthenticated webhooks (true) or refuse them"),
    Variable("TDS_WEBHOOK_MAX_BODY_BYTES", "webhook_max_body_bytes", _int(1024, 64 << 20),
             str(1 << 20), "Largest webhook body accepted; larger ones get 413 before being read"),
    Variable("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers", _bootstrap, "",
             "Kafka brokers (host:port,...); `make up` provisions one and writes it to "
             ".tds/services.env"),
    Variable("KAFKA_SECURITY_PROTOCOL", "kafka_security_protocol", _choice(PROTOCOLS, upper=True),
             "PLAINTEXT", "How every Kafka client connects: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT "
             "or SASL_SSL (TLS and a SASL login)"),
    Variable("KAFKA_SSL_CA_FILE", "kafka_ssl_ca_file", _file, "",
             "PEM file of the CA(s) that signed the brokers' certificates (default: the "
             "system's trust store)"),
    Variable("KAFKA_SSL_CERT_FILE", "kafka_ssl_cert_file", _file, "",
             "PEM client certificate, for brokers that require one (with KAFKA_SSL_KEY_FILE)"),
    Variable("KAFKA_SSL_KEY_FILE", "kafka_ssl_key_file", _file, "",
             "PEM private key of KAFKA_SSL_CERT_FILE (unencrypted PKCS#8)"),
    Variable("KAFKA_SSL_CHECK_HOSTNAME", "kafka_ssl_check_hostname", _bool, "true",
             "Check that a broker's certificate names the host connected to"),
    Variable("KAFKA_SASL_MECHANISM", "kafka_sasl_mechanism", _opt_choice(MECHANISMS), "",
             "SASL login: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
    Variable("KAFKA_SASL_USERNAME", "kafka_sasl_username", _opt_str, "",
             "SASL user name"),
    Variable("KAFKA_SASL_PASSWORD", "kafka_sasl_password", _secret, "",
             "SASL password (masked in logs and output)"),
    Variable("TDS_KAFKA_CONFIG", "kafka_config", _properties, "",
             "A properties file (key=value) of further librdkafka settings for every "
             "confluent-kafka client, e.g. `ssl.crl.location`; the faust engine's clients "
             "take only the named KAFKA_* settings"),
    Variable("TDS_KAFKA_SASL_SSL", "provision_kafka_sasl_ssl", _bool, "false",
             "`make up` only: give the broker it starts a SASL_SSL listener too (throwaway CA, "
             "SCRAM and PLAIN user), written to .tds/kafka-sasl.env"),
    Variable("DATABASE_URL", "database_url", _dsn, "",
             "PostgreSQL DSN for read models, cursors and the shared token cache; "
             "`?sslmode=verify-full&sslrootcert=/path/ca.crt` for TLS with hostname checks"),
    Variable("TDS_API_TOKEN", "api_token", _secret, "",
             "Bearer token required by admin API writes, and by reads unless "
             "TDS_API_OPEN_READS=true"),
    Variable("TDS_API_OPEN_READS", "api_open_reads", _bool, "false",
             "Serve admin reads (GET /api/tds/*, /api/bff/*, /metrics) without the bearer "
             "token; /api/tds/health always answers its status"),
    Variable("TDS_WEBHOOK_HOST", "webhook_host", _host, "127.0.0.1",
             "Address of the webhook listener of `tds web` (only /api/webhooks/zoho*); "
             "`0.0.0.0` to face Zoho"),
    Variable("TDS_WEBHOOK_PORT", "webhook_port", _int(1, 65535), "8001",
             "Port of the webhook listener"),
    Variable("TDS_ADMIN_HOST", "admin_host", _host, "127.0.0.1",
             "Address of the admin listener (admin API, BFF, dashboard, /metrics); "
             "`tds web --host` overrides it"),
    Variable("TDS_ADMIN_PORT", "admin_port", _int(1, 65535), "8000",
             "Port of the admin listener (the guide's 8000); `tds web --port` overrides it"),
    Variable("TDS_WORKER_COUNT", "worker_count", _int(1, 64), "3",
             "Stream worker processes started by `tds up`"),
    Variable("TDS_WORKER_THREADS", "worker_threads", _int(1, 64), "1",
             "Faust engine: concurrent instances of each raw-topic agent in one worker process "
             "(helps while pings wait on Zoho); the batched engine refuses more than 1 "
             "(scale it with TDS_WORKER_COUNT)"),
    Variable("TDS_STREAM_ENGINE", "stream_engine", _choice(("faust", "batched")), "faust",
             "What hosts the stream pipeline in `tds worker`: `faust` agents or the `batched` "
             "confluent-kafka loop"),
    Variable("TDS_BATCH_SIZE", "batch_size", _int(1, 10000), "100",
             "Records per Zoho page request / projector transaction"),
    Variable("TDS_RETRY_MAX_ATTEMPTS", "retry_max_attempts", _int(0, 20), "5",
             "Retry levels (topics tds.retry.1..N) before a message is dead-lettered"),
    Variable("TDS_RETRY_BACKOFF_SECONDS", "retry_backoff_s", _float(0.0, 86400.0), "60",
             "Delay before the first retry; each further level doubles it"),
    Variable("TDS_ENABLE_AUTO_SYNC", "enable_auto_sync", _bool, "true",
             "Run the periodic stock sync and incremental reconcile (manual syncs always work)"),
    Variable("TDS_STOCK_SYNC_INTERVAL_MINUTES", "stock_sync_interval_min", _float(0.05, 10080.0),
             "30", "Minutes between automatic stock syncs"),
    Variable("TDS_RECONCILE_INTERVAL_MINUTES", "reconcile_interval_min", _float(0.05, 10080.0),
             "5", "Minutes between incremental reconciles (catches dropped webhooks)"),
    Variable("TDS_FULL_SYNC_INTERVAL_HOURS", "full_sync_interval_h", _float(0.0, 8760.0), "24",
             "Hours between scheduled full syncs, which also find deletes whose webhook was "
             "lost (0: only on request)"),
    Variable("TDS_LOG_LEVEL", "log_level", _choice(LOG_LEVELS, upper=True), "INFO",
             "Log level of every TDS process"),
    Variable("TDS_LOG_FORMAT", "log_format", _choice(("text", "json")), "text",
             "`json` for structured logs in production, `text` for a terminal"),
    Variable("TDS_ENABLE_QUERY_LOGGING", "enable_query_logging", _bool, "false",
             "Log every SQL statement the projector and API run, with its duration"),
    Variable("TDS_ENABLE_CACHE", "enable_cache", _bool, "true",
             "Cache admin-API read answers (status, queue, health) for one second"),
    Variable("TDS_CHART_METRICS_URLS", "chart_metrics_urls", _metrics_urls, "",
             "Other processes' /metrics the dashboard's charts add to the web process's own, "
             "comma-separated; each host name counts every address it resolves to (compose "
             "replicas). Not needed under `tds up`, whose children share one metrics folder"),
    Variable("TDS_IMAGE_DIR", "image_dir", _str, ".tds/images",
             "Content-addressed folder of cached product images"),
    Variable("TDS_TOPIC_PARTITIONS", "topic_partitions", _int(1, 1024), "6",
             "Partitions of each TDS topic when `tds topics create` makes it"),
)


def _secret_text(var: Variable, source: Mapping[str, str]) -> str:
    """The secret from `NAME` or from the file `NAME_FILE` names (Docker/Kubernetes secrets).

    An empty variable counts as unset, so a compose file may pass `NAME=` through. Errors name
    the variables and the path, never the value.
    """
    direct = source.get(var.env, "").strip()
    file_env = f"{var.env}_FILE"
    path = source.get(file_env, "").strip()
    if not path:
        return direct or var.default
    if direct:
        raise ValueError(f"{var.env} and {file_env} are both set: keep one of them")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ValueError(f"{file_env}={path!r} cannot be read: {reason}") from None
    if not text.strip():
        raise ValueError(f"{file_env}={path!r} is an empty file")
    return text


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of a TDS process; secrets are `Secret`s so repr masks them."""

    zoho_client_id: str | None
    zoho_client_secret: Secret
    zoho_organization_id: str | None
    zoho_refresh_token: Secret
    zoho_dc: str
    zoho_api_base: str | None
    zoho_daily_limit: int
    zoho_concurrency: int
    zoho_webhook_secret: Secret
    zoho_webhook_auth: str
    zoho_webhook_secret_header: str
    zoho_webhook_secret_param: str
    webhook_allow_unsigned: bool
    webhook_max_body_bytes: int
    kafka_bootstrap_servers: str | None
    kafka_security_protocol: str
    kafka_ssl_ca_file: str | None
    kafka_ssl_cert_file: str | None
    kafka_ssl_key_file: str | None
    kafka_ssl_check_hostname: bool
    kafka_sasl_mechanism: str | None
    kafka_sasl_username: str | None
    kafka_sasl_password: Secret
    kafka_config: tuple[tuple[str, str], ...]
    provision_kafka_sasl_ssl: bool
    database_url: str | None
    api_token: Secret
    api_open_reads: bool
    webhook_host: str
    webhook_port: int
    admin_host: str
    admin_port: int
    worker_count: int
    worker_threads: int
    stream_engine: str
    batch_size: int
    retry_max_attempts: int
    retry_backoff_s: float
    enable_auto_sync: bool
    stock_sync_interval_min: float
    reconcile_interval_min: float
    full_sync_interval_h: float
    log_level: str
    log_format: str
    enable_query_logging: bool
    enable_cache: bool
    chart_metrics_urls: tuple[str, ...]
    image_dir: str
    topic_partitions: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse every variable, reporting all problems at once."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        problems: list[str] = []
        for var in VARIABLES:
            raw = source.get(var.env)
            text = var.default if raw is None else raw
            if var.secret:
                try:
                    text = _secret_text(var, source)
                except ValueError as exc:
                    problems.append(str(exc))
                    continue
            try:
                values[var.field] = var.parse(text)
            except ValueError as exc:
                shown = "<hidden>" if var.secret else repr(_without_password(text))
                problems.append(f"{var.env}={shown} {exc}")
        if problems:
            raise SettingsError(problems)
        settings = cls(**values)
        if problems := settings.kafka_security.problems():
            raise SettingsError(problems)
        return settings

    def __repr__(self) -> str:
        # Secrets mask themselves; the DSN's password is plain text inside the URL.
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.database_url:
            shown["database_url"] = _without_password(self.database_url)
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    __str__ = __repr__

    @property
    def kafka_security(self) -> KafkaSecurity:
        """TLS and SASL of every Kafka client, with the TDS_KAFKA_CONFIG extras."""
        return KafkaSecurity(
            protocol=self.kafka_security_protocol, ca_file=self.kafka_ssl_ca_file,
            cert_file=self.kafka_ssl_cert_file, key_file=self.kafka_ssl_key_file,
            check_hostname=self.kafka_ssl_check_hostname,
            sasl_mechanism=self.kafka_sasl_mechanism, username=self.kafka_sasl_username,
            password=self.kafka_sasl_password, extra=self.kafka_config)

    @property
    def kafka(self) -> str:
        """The bootstrap servers, or a SettingsError saying how to get some."""
        if not self.kafka_bootstrap_servers:
            raise SettingsError(
                ["KAFKA_BOOTSTRAP_SERVERS is not set: run `make up` or export host:port"])
        return self.kafka_bootstrap_servers

    @property
    def dsn(self) -> str:
        """The PostgreSQL DSN, or a SettingsError saying how to get one."""
        if not self.database_url:
            raise SettingsError(
                ["DATABASE_URL is not set: run `make up` or export postgresql://user@host/db"])
        return self.database_url

    @property
    def retry_delays_s(self) -> tuple[float, ...]:
        """Delay of each retry level: the backoff, doubling per level."""
        return tuple(self.retry_backoff_s * 2**i for i in range(self.retry_max_attempts))

    @property
    def image_path(self) -> Path:
        """The image cache folder as a path."""
        return Path(self.image_dir)

    def secrets(self) -> list[str]:
        """Every non-empty secret value, for log redaction."""
        return [
            getattr(self, f.name).reveal()
            for f in fields(self)
            if isinstance(getattr(self, f.name), Secret) and getattr(self, f.name)
        ]


def read_one(name: str, env: Mapping[str, str] | None = None) -> Any:
    """One variable's value, for tools that need no full Settings (provisioning)."""
    source = os.environ if env is None else env
    var = next(v for v in VARIABLES if v.env == name)
    raw = source.get(name, var.default)
    try:
        return var.parse(raw)
    except ValueError as exc:
        raise SettingsError([f"{name}={raw!r} {exc}"]) from None


def load_env_file(
    path: Path, env: MutableMapping[str, str] | None = None
) -> MutableMapping[str, str]:
    """Add `KEY=value` lines of `path` to `env` (default os.environ) where not already set."""
    target: MutableMapping[str, str] = os.environ if env is None else env
    if not path.is_file():
        return target
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        target.setdefault(key.strip(), value.strip())
    return target


def find_services_env(start: Path | None = None) -> Path | None:
    """Find `.tds/services.env` in the working directory or one of its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / ".tds" / "services.env"
        if candidate.is_file():
            return candidate
    return None
