"""Frozen settings for every simulator knob, with the documented Zoho defaults."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from typing import Literal
from urllib.parse import urlsplit

from simulator.errors import ConfigError

StockShape = Literal["locations", "warehouses"]
WebhookFormat = Literal["json", "form", "raw"]

STOCK_SHAPES: tuple[StockShape, ...] = ("locations", "warehouses")
WEBHOOK_FORMATS: tuple[WebhookFormat, ...] = ("json", "form", "raw")
WEBHOOK_METHODS = ("POST", "PUT", "DELETE")
HOOK_ENTITIES = (
    "item",
    "contact",
    "salesorder",
    "invoice",
    "customerpayment",
    "creditnote",
    "bill",
    "vendorpayment",
)
HOOK_ACTIONS = ("created", "edited", "deleted")


@dataclass(frozen=True)
class DataConfig:
    """How many records of each kind the seeded generator builds, and their shape."""

    seed: int = 42
    items: int = 50_000
    locations: int = 5
    contacts: int = 10_000
    salesorders: int = 20_000
    invoices: int = 20_000
    customerpayments: int | None = None  # None: half the invoices
    creditnotes: int | None = None  # None: a tenth of the invoices
    bills: int | None = None  # None: a quarter of the sales orders
    vendorpayments: int | None = None  # None: half the bills
    stock_shape: StockShape = "locations"
    image_fraction: float = 0.3
    hostile_fraction: float = 0.01
    # A fixed anchor (2025-11-01T00:00:00Z), not the wall clock, so a seed gives identical bytes.
    history_end_epoch_s: int = 1_761_955_200
    history_days: int = 365

    def count(self, entity: str) -> int:
        """Return the number of records to generate for a list path such as "items"."""
        derived = {
            "customerpayments": (self.customerpayments, self.invoices // 2),
            "creditnotes": (self.creditnotes, self.invoices // 10),
            "bills": (self.bills, self.salesorders // 4),
        }
        if entity in derived:
            explicit, default = derived[entity]
            return default if explicit is None else explicit
        if entity == "vendorpayments":
            return self.count("bills") // 2 if self.vendorpayments is None else self.vendorpayments
        value = getattr(self, entity)
        assert isinstance(value, int)
        return value


@dataclass(frozen=True)
class OrgConfig:
    """The single organization the simulator serves."""

    organization_id: str = "20077551234"
    name: str = "TSH Simulated Trading"
    utc_offset_minutes: int = 180
    time_zone: str = "Asia/Baghdad"
    currency_code: str = "USD"
    currency_symbol: str = "$"


@dataclass(frozen=True)
class OAuthConfig:
    """Zoho Accounts behaviour: credentials, token lifetime and the token limits."""

    client_id: str = "1000.SIMULATORCLIENT00000000000000"
    client_secret: str = field(default="5f3c1a9e7b2d4c6e8a0b1c2d3e4f5a6b7c8d9e0f1a", repr=False)
    refresh_token: str = field(
        default="1000.5e2b7c9d1a3f4e6b8c0d2e4f6a8b0c1d.9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        repr=False,
    )
    scope: str = "ZohoBooks.fullaccess.all,ZohoInventory.FullAccess.all"
    token_ttl_s: int = 3600
    max_active_tokens: int = 10
    throttle_requests: int = 10
    throttle_window_s: int = 600
    block_s: int = 900
    block_extends: bool = False  # True: every attempt while blocked restarts the block


@dataclass(frozen=True)
class LimitConfig:
    """API quotas per organization; fixed windows on the simulator clock."""

    per_minute: int = 100
    daily: int = 10_000
    concurrency: int = 10


@dataclass(frozen=True)
class FaultConfig:
    """Faults injected into API (not control or OAuth) responses."""

    error_rate: float = 0.0
    latency_ms: int = 0
    timeout_rate: float = 0.0
    timeout_hang_s: float = 60.0
    truncate_rate: float = 0.0
    malformed_rate: float = 0.0
    force_token_block: bool = False
    # A write's 400 refusal answered with HTTP 200, the body's code unchanged: Zoho does this
    # at times (facts 7b), so clients must read the body's code, not just the status.
    refusal_200_rate: float = 0.0


@dataclass(frozen=True)
class WebhookRule:
    """One workflow rule: fire on (entity, action); unset fields inherit the global setting."""

    entity: str
    action: str
    url: str | None = None
    method: str | None = None
    format: WebhookFormat | None = None
    raw_template: str | None = None
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()


def all_rules() -> tuple[WebhookRule, ...]:
    """Return one rule per entity and action, the default set."""
    return tuple(WebhookRule(e, a) for e in HOOK_ENTITIES for a in HOOK_ACTIONS)


@dataclass(frozen=True)
class WebhookConfig:
    """Where and how webhooks are delivered, and how delivery misbehaves."""

    url: str | None = None
    format: WebhookFormat = "json"
    method: str = "POST"
    secret: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    rules: tuple[WebhookRule, ...] = field(default_factory=all_rules)
    rule_query: bool = True  # add entity=<entity>&action=<action> to every rule's URL
    raw_template: str | None = None  # None: a small per-entity JSON template
    raw_content_type: str = "application/json"
    include_snapshot_on_delete: bool = False
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    reorder_hold_s: float = 1.0
    delay_ms: int = 0
    drop_rate: float = 0.0
    retry_schedule_s: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
    max_attempts: int = 5
    timeout_s: float = 10.0
    concurrency: int = 4
    queue_size: int = 10_000
    allow_remote: bool = False


@dataclass(frozen=True)
class SimConfig:
    """Every knob of one simulator instance."""

    data: DataConfig = field(default_factory=DataConfig)
    org: OrgConfig = field(default_factory=OrgConfig)
    oauth: OAuthConfig = field(default_factory=OAuthConfig)
    limits: LimitConfig = field(default_factory=LimitConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    change_rate: float = 0.0  # background changes per second; 0 = off
    no_webhook_fraction: float = 0.1
    clock_start_epoch_s: float | None = None  # None: wall clock; else a manual clock
    public_url: str | None = None  # None: the base URL each request arrived on
    change_log_size: int = 100_000


def _rate(owner: str, name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{owner}.{name}={value!r} is not a fraction (0.0-1.0)")


def _non_negative(owner: str, name: str, value: float) -> None:
    if value < 0:
        raise ConfigError(f"{owner}.{name}={value!r} must be zero or more")


def _positive(owner: str, name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{owner}.{name}={value!r} must be more than zero")


def validate_data(cfg: DataConfig) -> None:
    """Raise ConfigError when the generator settings cannot be used."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in ("seed", "stock_shape") or value is None:
            continue
        _non_negative("data", f.name, value)
    _rate("data", "image_fraction", cfg.image_fraction)
    _rate("data", "hostile_fraction", cfg.hostile_fraction)
    _positive("data", "locations", cfg.locations)
    _positive("data", "history_days", cfg.history_days)
    if cfg.stock_shape not in STOCK_SHAPES:
        raise ConfigError(f"data.stock_shape={cfg.stock_shape!r} is not one of {STOCK_SHAPES}")
    needs_contacts = cfg.salesorders or cfg.invoices or cfg.count("bills")
    if needs_contacts and cfg.contacts < 1:
        raise ConfigError("data.contacts must be at least 1 when transactions are generated")
    if needs_contacts and cfg.items < 1:
        raise ConfigError("data.items must be at least 1 when transactions are generated")


def validate_limits(cfg: LimitConfig) -> None:
    """Raise ConfigError when a quota is not a positive whole number."""
    for f in fields(cfg):
        _positive("limits", f.name, getattr(cfg, f.name))


def validate_faults(cfg: FaultConfig) -> None:
    """Raise ConfigError when a fault rate or duration is out of range."""
    for name in ("error_rate", "timeout_rate", "truncate_rate", "malformed_rate",
                 "refusal_200_rate"):
        _rate("faults", name, getattr(cfg, name))
    _non_negative("faults", "latency_ms", cfg.latency_ms)
    _non_negative("faults", "timeout_hang_s", cfg.timeout_hang_s)
    if cfg.truncate_rate + cfg.malformed_rate > 1.0:
        raise ConfigError("faults.truncate_rate + faults.malformed_rate must not exceed 1.0")


def check_webhook_url(url: str, allow_remote: bool) -> None:
    """Raise ConfigError unless url is http(s) on a loopback host (or remote is allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"webhooks.url={url!r} is not an http(s) URL with a host")
    if allow_remote:
        return
    host = parts.hostname
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"webhooks.url host {host!r} is not loopback; pass --allow-remote-webhooks "
            "(or allow_remote=true) to send webhooks off this machine"
        )


def validate_webhooks(cfg: WebhookConfig) -> None:
    """Raise ConfigError when a webhook setting cannot be used."""
    if cfg.url is not None:
        check_webhook_url(cfg.url, cfg.allow_remote)
    for rule in cfg.rules:
        if rule.entity not in HOOK_ENTITIES:
            raise ConfigError(f"webhook rule entity {rule.entity!r} is not one of {HOOK_ENTITIES}")
        if rule.action not in HOOK_ACTIONS:
            raise ConfigError(f"webhook rule action {rule.action!r} is not one of {HOOK_ACTIONS}")
        if rule.url is not None:
            check_webhook_url(rule.url, cfg.allow_remote)
        if rule.method is not None and rule.method not in WEBHOOK_METHODS:
            raise ConfigError(
                f"webhook rule method {rule.method!r} is not one of {WEBHOOK_METHODS}"
            )
        if rule.format is not None and rule.format not in WEBHOOK_FORMATS:
            raise ConfigError(
                f"webhook rule format {rule.format!r} is not one of {WEBHOOK_FORMATS}"
            )
    if cfg.format not in WEBHOOK_FORMATS:
        raise ConfigError(f"webhooks.format={cfg.format!r} is not one of {WEBHOOK_FORMATS}")
    if cfg.method not in WEBHOOK_METHODS:
        raise ConfigError(f"webhooks.method={cfg.method!r} is not one of {WEBHOOK_METHODS}")
    for name in ("duplicate_rate", "reorder_rate", "drop_rate"):
        _rate("webhooks", name, getattr(cfg, name))
    _non_negative("webhooks", "delay_ms", cfg.delay_ms)
    _non_negative("webhooks", "reorder_hold_s", cfg.reorder_hold_s)
    if not cfg.retry_schedule_s or any(s < 0 for s in cfg.retry_schedule_s):
        raise ConfigError("webhooks.retry_schedule_s must be a non-empty list of seconds >= 0")
    for name in ("max_attempts", "timeout_s", "concurrency", "queue_size"):
        _positive("webhooks", name, getattr(cfg, name))


def validate(cfg: SimConfig) -> None:
    """Raise ConfigError naming the first unusable setting in cfg."""
    validate_data(cfg.data)
    validate_limits(cfg.limits)
    validate_faults(cfg.faults)
    validate_webhooks(cfg.webhooks)
    _non_negative("sim", "change_rate", cfg.change_rate)
    _rate("sim", "no_webhook_fraction", cfg.no_webhook_fraction)
    _positive("sim", "change_log_size", cfg.change_log_size)
    for name in ("token_ttl_s", "max_active_tokens", "throttle_requests", "throttle_window_s"):
        _positive("oauth", name, getattr(cfg.oauth, name))
    _non_negative("oauth", "block_s", cfg.oauth.block_s)
