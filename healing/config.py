"""The healing config: policies, guards, services (dependencies, cost), signatures, notifications.

One YAML file, validated by these pydantic models on load (``load_config``); every error names the
file and the line. Action names and parameters are checked against the action registry at load
time, so a typo fails at start-up, not at 3 a.m. during an incident.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from forewarn.config_file import ConfigFileError, describe, load_with_lines
from forewarn.events import Severity
from forewarn.healing.actions.registry import ActionRegistry, default_registry
from forewarn.healing.errors import ConfigError
from forewarn.settings import HealingMode as Mode
from forewarn.settings import Secret

# Strictest first: the effective mode is the strictest of the global and the policy mode.
MODE_ORDER: list[str] = list(get_args(Mode))


def strictest(*modes: str) -> str:
    return min(modes, key=MODE_ORDER.index)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Strict):
    max: int = Field(ge=0)
    per_seconds: float = Field(gt=0)


class BreakerConfig(_Strict):
    failures: int = Field(3, ge=1)
    pause_seconds: float = Field(600.0, gt=0)


class MaintenanceWindow(_Strict):
    """Absolute (start/end) or daily (``"HH:MM-HH:MM"`` UTC) window during which no action runs."""

    service: str = "*"
    start: datetime | None = None
    end: datetime | None = None
    daily: str | None = None
    reason: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> MaintenanceWindow:
        if self.daily is None and (self.start is None or self.end is None):
            raise ValueError("a maintenance window needs start and end, or daily: 'HH:MM-HH:MM'")
        if self.daily is not None and not re.fullmatch(r"\d{2}:\d{2}-\d{2}:\d{2}", self.daily):
            raise ValueError("daily must look like '02:00-03:30' (UTC)")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def covers(self, service: str, when: datetime) -> bool:
        if self.service not in ("*", service):
            return False
        if self.daily is not None:
            first, last = self.daily.split("-")
            lo = time.fromisoformat(first)
            hi = time.fromisoformat(last)
            now = when.time().replace(tzinfo=None)
            return lo <= now < hi if lo <= hi else (now >= lo or now < hi)
        assert self.start is not None and self.end is not None
        return self.start <= when < self.end


class GuardConfig(_Strict):
    """Limits; global ones in ``guards:``, a policy's ``guards:`` overrides what it names."""

    rate_limit: Window | None = None  # per action (name) across services
    global_rate_limit: Window | None = None  # all actions
    restart_budget: Window | None = None  # restarts per service
    cooldown_seconds: float | None = Field(None, ge=0)  # per service+action after each run
    max_concurrent: int | None = Field(None, ge=1)
    breaker: BreakerConfig | None = None
    approval_timeout_seconds: float | None = Field(None, gt=0)
    # A trigger older than this is not acted on (a consumer replaying old messages must not heal
    # problems that are long gone); it is audited as skipped.
    max_trigger_age_seconds: float | None = Field(None, gt=0)
    maintenance_windows: list[MaintenanceWindow] = Field(default_factory=list)

    def merged(self, override: GuardConfig | None) -> GuardConfig:
        if override is None:
            return self
        data = self.model_dump(exclude_none=True)
        data.update(override.model_dump(exclude_none=True, exclude_defaults=True))
        windows = [*self.maintenance_windows, *override.maintenance_windows]
        data["maintenance_windows"] = windows
        return GuardConfig.model_validate(data)


DEFAULT_GUARDS = GuardConfig(
    rate_limit=Window(max=6, per_seconds=3600),
    global_rate_limit=Window(max=20, per_seconds=3600),
    restart_budget=Window(max=3, per_seconds=3600),
    cooldown_seconds=120.0,
    max_concurrent=2,
    breaker=BreakerConfig(),
    approval_timeout_seconds=300.0,
    max_trigger_age_seconds=900.0,
)


class ServiceConfig(_Strict):
    """One service: what its downtime costs, where its admin API and health are.

    What it depends on is not here: the one dependency map is settings ``dependencies:``, read by the
    grouper, the executor and the API alike.
    """

    cost_per_minute: float = Field(0.0, ge=0)
    admin_url: str | None = None  # default: settings.healing.admin_base_url
    health_path: str | None = None  # default: /api/health/<service>

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "depends_on" in data:
            raise ValueError(
                "depends_on moved to the forewarn settings' top-level `dependencies:` (one map for all)"
            )
        return data


class Signature(_Strict):
    """Detection signature -> issue class. Every given field must match (lists: any of)."""

    issue_class: str = Field(min_length=1)
    sources: list[str] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)
    series: str | None = None  # regex, searched
    reason: str | None = None  # regex, searched, case-insensitive
    features_any: list[str] = Field(default_factory=list)

    @field_validator("series", "reason")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regex: {exc}") from exc
        return value


class TriggerMatch(_Strict):
    sources: list[Literal["detection", "forecast", "incident", "manual"]] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)  # empty or "*": any
    issue_class: str | None = None
    min_severity: Severity = Severity.INFO
    min_confidence: float = Field(0.0, ge=0, le=1)
    min_breach_probability: float | None = Field(None, ge=0, le=1)
    max_lead_time_seconds: float | None = Field(None, ge=0)  # forecast: act only when breach is this close
    min_lead_time_seconds: float | None = Field(None, ge=0)  # forecast: too late to act below this


class Step(_Strict):
    """One action (or a choice ``one_of`` resolved by recorded success rate) with parameters."""

    action: str | None = None
    one_of: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> Step:
        names = [self.action] if self.action else list(self.one_of)
        if bool(self.action) == bool(self.one_of):
            raise ValueError("a step needs exactly one of 'action' or 'one_of'")
        registry = (info.context or {}).get("registry")
        if isinstance(registry, ActionRegistry):
            for name in names:
                if name not in registry:
                    raise ValueError(f"unknown action {name!r}; known: {', '.join(registry.names())}")
                try:
                    registry.parse(name, self.params)
                except ValidationError as exc:
                    problems = "; ".join(
                        f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}"
                        for e in exc.errors(include_url=False)
                    )
                    raise ValueError(f"bad params for {name}: {problems}") from None
        return self

    def candidates(self) -> list[str]:
        return [self.action] if self.action else list(self.one_of)


class ValidationCheck(_Strict):
    """Healthy means: ``probes`` consecutive OK answers from the health endpoint within ``within_seconds``."""

    endpoint: str | None = None  # path or URL; default: the service's health path
    probes: int = Field(3, ge=1, le=100)
    within_seconds: float = Field(30.0, gt=0)
    interval_seconds: float = Field(1.0, gt=0)
    timeout_seconds: float = Field(5.0, gt=0)
    expect_status: list[str] = Field(default_factory=lambda: ["ok"])


class EscalationStep(_Strict):
    after_seconds: float = Field(0.0, ge=0)
    notify: list[str] = Field(min_length=1)


class Policy(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    priority: int = 100  # lower runs first when several policies match
    mode: Mode = "auto"
    trigger: TriggerMatch
    actions: list[Step] = Field(default_factory=list)
    validation: ValidationCheck | None = None
    rollback: bool = True
    escalation: list[EscalationStep] = Field(default_factory=list)
    guards: GuardConfig | None = None


class ChannelConfig(_Strict):
    """One receiver. ``webhook`` speaks PagerDuty Events v2 (trigger, then resolve with the incident
    id as ``dedup_key``); ``teams`` posts an Adaptive Card to a Teams incoming webhook (Workflows)."""

    type: Literal["slack", "email", "webhook", "teams"]
    # Secrets (a Slack or Teams webhook URL carries its token; a PagerDuty routing key is one): masked.
    url: Secret | None = None  # slack / webhook / teams
    routing_key: Secret | None = None  # webhook (PagerDuty Events v2)
    host: str | None = None  # email
    port: int = Field(25, ge=1, le=65535)
    sender: str | None = None
    to: list[str] = Field(default_factory=list)
    # email: "starttls" upgrades a plain connection (port 587), "ssl" is TLS from the start (465).
    tls: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None  # email: SMTP AUTH (LOGIN/PLAIN), only over TLS unless tls is none
    password: Secret | None = None
    ca_bundle: Path | None = None  # email: PEM CAs to trust for the server's certificate
    timeout_seconds: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> ChannelConfig:
        if self.type in ("slack", "webhook", "teams") and not self.url:
            raise ValueError(f"a {self.type} channel needs 'url'")
        if self.type == "email" and (not self.host or not self.sender or not self.to):
            raise ValueError("an email channel needs 'host', 'sender' and 'to'")
        if self.username is not None and self.password is None:
            raise ValueError("'username' needs 'password'")
        return self


class Route(_Strict):
    """Where a notification goes when no policy's escalation ladder takes it.

    Every route whose conditions all hold adds its channels: ``services`` (empty: any), ``min_severity``,
    ``issue_classes`` (empty: any) and ``labels`` (each given label must be equal on the trigger).
    """

    channels: list[str] = Field(min_length=1)
    services: list[str] = Field(default_factory=list)
    min_severity: Severity = Severity.INFO
    issue_classes: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)

    def matches(self, service: str, severity: str, issue_class: str, labels: dict[str, str]) -> bool:
        try:
            rank = Severity(severity).rank
        except ValueError:
            rank = Severity.INFO.rank
        return (
            (not self.services or service in self.services or "*" in self.services)
            and rank >= self.min_severity.rank
            and (not self.issue_classes or issue_class in self.issue_classes)
            and all(labels.get(k) == v for k, v in self.labels.items())
        )


class Silence(_Strict):
    service: str = "*"
    issue_class: str = "*"
    until: datetime
    reason: str = ""


class NotificationConfig(_Strict):
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    group_window_seconds: float = Field(300.0, ge=0)
    dedup_window_seconds: float = Field(900.0, ge=0)
    silences: list[Silence] = Field(default_factory=list)
    # For triggers no policy matches, and policies without an escalation ladder: who hears about it.
    routes: list[Route] = Field(default_factory=list)

    def routed(self, service: str, severity: str, issue_class: str, labels: dict[str, str]) -> list[str]:
        """The channels of every matching route, in route order, each once."""
        names: list[str] = []
        for route in self.routes:
            if route.matches(service, severity, issue_class, labels):
                names.extend(n for n in route.channels if n not in names)
        return names


class HealingConfig(_Strict):
    version: Literal[1] = 1
    mode: Mode = "auto"
    guards: GuardConfig = DEFAULT_GUARDS
    services: dict[str, ServiceConfig] = Field(default_factory=dict)
    signatures: list[Signature] = Field(default_factory=list)
    notifications: NotificationConfig = Field(default_factory=NotificationConfig)
    policies: list[Policy] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> HealingConfig:
        names = [p.name for p in self.policies]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate policy names: {', '.join(dupes)}")
        for index, route in enumerate(self.notifications.routes):
            for channel in route.channels:
                if channel not in self.notifications.channels:
                    raise ValueError(
                        f"notifications.routes[{index}] names unknown channel {channel!r} "
                        f"(defined: {', '.join(sorted(self.notifications.channels)) or 'none'})"
                    )
        for policy in self.policies:
            for step in policy.escalation:
                for channel in step.notify:
                    if channel not in self.notifications.channels:
                        raise ValueError(
                            f"policy {policy.name}: escalation names unknown channel {channel!r} "
                            f"(defined: {', '.join(sorted(self.notifications.channels)) or 'none'})"
                        )
        return self

    def action_names(self) -> set[str]:
        """Every action some policy may run: what an operator may name in a manual trigger."""
        return {name for policy in self.policies for step in policy.actions for name in step.candidates()}


DEFAULT_CONFIG_NAME = "default_healing.yaml"


def default_config_path() -> Path:
    return Path(str(resources.files("forewarn.healing") / DEFAULT_CONFIG_NAME))


M = TypeVar("M", bound=BaseModel)


def validate_file(model: type[M], path: Path, context: dict[str, Any] | None = None) -> M:
    """Validate a YAML file against ``model``; every error names ``file:line`` and the field path."""
    try:
        data, lines = load_with_lines(path)
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return model.model_validate(data, context={**(context or {}), "lines": lines, "path": path})
    except ValidationError as exc:
        messages = describe(exc.errors(include_url=False), str(path), lines)
        raise ConfigError("invalid healing config:\n  " + "\n  ".join(messages)) from None


def load_config(path: Path | None = None, registry: ActionRegistry | None = None) -> HealingConfig:
    """Load and validate a healing config (default: the shipped one for the demo's faults)."""
    return validate_file(
        HealingConfig, path or default_config_path(), {"registry": registry or default_registry()}
    )


__all__ = [
    "DEFAULT_GUARDS",
    "MODE_ORDER",
    "ChannelConfig",
    "EscalationStep",
    "GuardConfig",
    "HealingConfig",
    "MaintenanceWindow",
    "Mode",
    "Policy",
    "Route",
    "ServiceConfig",
    "Signature",
    "Step",
    "TriggerMatch",
    "ValidationCheck",
    "load_config",
    "strictest",
]
