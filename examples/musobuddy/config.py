"""Configuration of the MusoBuddy demo app.

Why a settings class of its own: the demo app is a separate service (it stands in for the system
forewarn watches), so it is configured like one: defaults < YAML file < ``MUSOBUDDY_*`` environment
variables < explicit arguments. Nested fields use ``__``, e.g.
``MUSOBUDDY_ENDPOINTS__AUTH__DEGRADED_MS=400`` or ``MUSOBUDDY_RESOURCES__DB_POOL_SIZE=80``.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from forewarn.admin_signing import parse_verifying_key
from forewarn.settings import layered_sources

CONFIG_ENV_VAR = "MUSOBUDDY_CONFIG"
MIB = 1024 * 1024
GIB = 1024 * MIB

# The demo-only admin key pair, documented in the README. Anyone can read both halves here: never
# use them for a real service; configure ``admin.keys`` (or MUSOBUDDY_ADMIN__KEYS) with your own
# public keys instead (``forewarn keys admin``). The app loads only the public half; the private
# half is here so ``forewarn demo-admin`` and the tests can sign against the default config.
# ``./run demo`` does not use this pair: it makes a fresh one per run.
DEMO_ADMIN_KEY_ID = "demo-admin"
DEMO_ADMIN_PUBLIC_KEY = "ed25519:LTjGiEDQpjHleErUanhjalcwRZBn1wO3KaTaZRZ1xh0"
DEMO_ADMIN_PRIVATE_KEY = "ed25519-private:ZgbVDdNdWL4Q77yw5yFHhBOyfBO4jj9eonUpcoLiI8E"

_file_for_next_load: ContextVar[Path | None] = ContextVar("musobuddy_config_file", default=None)


class EndpointConfig(BaseModel):
    """Simulated response time of one health endpoint and the latency thresholds that grade it."""

    latency_ms: float = Field(20.0, ge=0, le=60_000)
    jitter_ms: float = Field(5.0, ge=0, le=10_000)
    degraded_ms: float = Field(500.0, gt=0)
    down_ms: float = Field(3000.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> EndpointConfig:
        if self.down_ms <= self.degraded_ms:
            raise ValueError(
                f"down_ms ({self.down_ms}) must be greater than degraded_ms ({self.degraded_ms})"
            )
        return self


class EndpointsConfig(BaseModel):
    auth: EndpointConfig = Field(default_factory=lambda: EndpointConfig(latency_ms=40, jitter_ms=10))
    database: EndpointConfig = Field(
        default_factory=lambda: EndpointConfig(latency_ms=8, jitter_ms=3, degraded_ms=250, down_ms=2000)
    )
    email: EndpointConfig = Field(default_factory=lambda: EndpointConfig(latency_ms=60, jitter_ms=20))
    sms: EndpointConfig = Field(default_factory=lambda: EndpointConfig(latency_ms=70, jitter_ms=20))
    payments: EndpointConfig = Field(
        default_factory=lambda: EndpointConfig(latency_ms=90, jitter_ms=25, degraded_ms=800, down_ms=4000)
    )
    overall: EndpointConfig = Field(default_factory=lambda: EndpointConfig(latency_ms=2, jitter_ms=1))

    def get(self, name: str) -> EndpointConfig:
        value = getattr(self, name)
        assert isinstance(value, EndpointConfig)
        return value


class ThresholdsConfig(BaseModel):
    """Usage ratios (0..1) and error rates at which a subsystem is degraded or down."""

    db_pool_degraded: float = Field(0.8, gt=0, le=1)
    db_pool_down: float = Field(1.0, gt=0, le=1)
    memory_degraded: float = Field(0.85, gt=0, le=1)
    memory_down: float = Field(1.0, gt=0, le=1)
    disk_degraded: float = Field(0.85, gt=0, le=1)
    disk_down: float = Field(0.97, gt=0, le=1)
    error_rate_degraded: float = Field(0.05, gt=0, le=1)
    error_rate_down: float = Field(0.5, gt=0, le=1)
    slow_query_ms: float = Field(200.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdsConfig:
        for name in ("db_pool", "memory", "disk", "error_rate"):
            degraded, down = getattr(self, f"{name}_degraded"), getattr(self, f"{name}_down")
            if down < degraded:
                raise ValueError(f"{name}_down ({down}) must be >= {name}_degraded ({degraded})")
        return self


class ResourcesConfig(BaseModel):
    """The simulated capacity of the service at start (and after a restart)."""

    db_pool_size: int = Field(50, ge=1, le=10_000)
    db_pool_baseline: int = Field(6, ge=0)
    db_max_waiters: int = Field(200, ge=0)
    memory_limit_bytes: int = Field(1 * GIB, ge=16 * MIB)
    memory_baseline_bytes: int = Field(320 * MIB, ge=0)
    disk_total_bytes: int = Field(20 * GIB, ge=GIB)
    disk_baseline_bytes: int = Field(8 * GIB, ge=0)
    cache_capacity: int = Field(10_000, ge=1)
    replicas: int = Field(2, ge=1, le=100)
    max_replicas: int = Field(10, ge=1, le=100)
    max_db_pool_size: int = Field(400, ge=1)

    @model_validator(mode="after")
    def _fits(self) -> ResourcesConfig:
        if self.db_pool_baseline >= self.db_pool_size:
            raise ValueError("db_pool_baseline must be below db_pool_size")
        if self.memory_baseline_bytes >= self.memory_limit_bytes:
            raise ValueError("memory_baseline_bytes must be below memory_limit_bytes")
        if self.disk_baseline_bytes >= self.disk_total_bytes:
            raise ValueError("disk_baseline_bytes must be below disk_total_bytes")
        return self


class AuthConfig(BaseModel):
    """The synthetic login flow run by /api/health/auth."""

    test_user: str = "healthcheck@musobuddy.test"
    pbkdf2_iterations: int = Field(20_000, ge=1_000, le=2_000_000)
    session_ttl_seconds: float = Field(900.0, gt=0)


class ProvidersConfig(BaseModel):
    email_primary: str = "sendgrid"
    email_secondary: str = "mailgun"
    sms_primary: str = "twilio"
    sms_secondary: str = "vonage"


class AdminConfig(BaseModel):
    """Admin API keys and the limits that protect it.

    ``keys`` maps a key id to what verifies its requests: an Ed25519 public key (``ed25519:<b64>``,
    the default; the app holds nothing that can sign) or, for clients not yet moved, an HMAC secret
    (``hmac:<secret>`` or the bare secret, as older configs have it). See ``forewarn.admin_signing``.
    """

    keys: dict[str, str] = Field(default_factory=lambda: {DEMO_ADMIN_KEY_ID: DEMO_ADMIN_PUBLIC_KEY})
    max_skew_seconds: float = Field(300.0, gt=0, le=3600)
    rate_limit_per_minute: float = Field(60.0, gt=0)
    rate_limit_burst: int = Field(10, ge=1)
    rotation_grace_seconds: float = Field(300.0, ge=0)
    audit_max_records: int = Field(10_000, ge=10)

    @model_validator(mode="after")
    def _has_keys(self) -> AdminConfig:
        if not self.keys:
            raise ValueError("admin.keys must hold at least one key id -> public key (or HMAC secret)")
        for key_id, text in self.keys.items():
            parse_verifying_key(text, f"admin key {key_id!r}")
        return self


class MusoBuddyConfig(BaseSettings):
    """Every knob of the demo app."""

    model_config = SettingsConfigDict(env_prefix="MUSOBUDDY_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "musobuddy"
    version: str = "2.4.0"
    previous_versions: list[str] = Field(default_factory=lambda: ["2.3.1", "2.3.2"])
    seed: int | None = None
    noise: bool = True
    # A daily load cycle, compressed into this period (None = flat load): latencies and the pool's
    # baseline rise and fall with it, so no-fault control periods look like a real day, not a flat line.
    load_cycle_seconds: float | None = Field(None, gt=0, le=86_400)
    load_cycle_peak: float = Field(0.6, ge=0, le=5)  # extra share of base latency at the daily peak
    # Health endpoints really wait their simulated response time, so probes measure it over HTTP.
    simulate_latency: bool = True
    max_sleep_ms: float = Field(10_000.0, ge=0)
    endpoints: EndpointsConfig = Field(default_factory=EndpointsConfig)
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    providers: ProvidersConfig = Field(default_factory=ProvidersConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    log_file: Path | None = None
    log_stdout: bool = False
    log_requests: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return layered_sources(settings_cls, init_settings, env_settings, _file_for_next_load.get())


def load_config(path: Path | None = None, **overrides: Any) -> MusoBuddyConfig:
    """Build the config from defaults, a YAML file (``path`` or ``MUSOBUDDY_CONFIG``), env and overrides."""
    if path is None and os.environ.get(CONFIG_ENV_VAR):
        path = Path(os.environ[CONFIG_ENV_VAR])
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"musobuddy config {path}: no such file")
    token = _file_for_next_load.set(path)
    try:
        return MusoBuddyConfig(**overrides)
    finally:
        _file_for_next_load.reset(token)
