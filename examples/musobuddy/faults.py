"""The catalogue of injectable faults and their parameters.

Why a catalogue: the API, the docs and the tests all need the same list of fault names, what each
one's ``rate`` means and its bounds, so bad parameters are refused with a 422 that says why instead
of silently doing something odd.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FaultParams(BaseModel):
    """Optional parameters of ``POST /api/faults/{name}``; each fault uses the ones it understands."""

    model_config = ConfigDict(extra="forbid")

    rate: float | None = Field(
        None, gt=0, le=1_000_000, allow_inf_nan=False, description="Speed of the fault; unit per fault."
    )
    duration_seconds: float | None = Field(
        None, gt=0, le=7 * 86400, description="Stop the fault by itself after this long (simulated clock)."
    )
    provider: Literal["primary", "secondary", "both"] | None = Field(
        None, description="email_outage / sms_outage only: which provider fails (default primary)."
    )
    flap_seconds: float | None = Field(
        None,
        gt=0,
        le=86400,
        description="Outages and payment errors only: on for this long, off for as long, repeating.",
    )
    persistent: bool = Field(
        False,
        description=(
            "Leaks only: the bug survives a restart / reset-connections (the leak starts again from the "
            "baseline) instead of being cleared by it."
        ),
    )


@dataclass(frozen=True, slots=True)
class FaultSpec:
    name: str
    description: str
    rate_unit: str | None = None
    default_rate: float | None = None
    max_rate: float | None = None
    accepts_provider: bool = False
    leak: bool = False
    can_flap: bool = False


FAULTS: dict[str, FaultSpec] = {
    spec.name: spec
    for spec in (
        FaultSpec(
            "db_outage", "The database stops accepting connections (auth and payments follow).", can_flap=True
        ),
        FaultSpec(
            "db_pool_leak",
            "Connections are checked out and never returned until the pool is exhausted.",
            rate_unit="connections/s",
            default_rate=0.5,
            max_rate=1000,
            leak=True,
        ),
        FaultSpec(
            "memory_leak",
            "Process memory grows until the limit, then the process is OOM-killed.",
            rate_unit="MiB/s",
            default_rate=2.0,
            max_rate=10_000,
            leak=True,
        ),
        FaultSpec(
            "auth_overload",
            "Login traffic spike: auth latency rises steadily (capped at 10 s); more replicas dampen it.",
            rate_unit="ms/s",
            default_rate=25.0,
            max_rate=10_000,
        ),
        FaultSpec(
            "email_outage", "An email provider refuses mail (SMTP 421).", accepts_provider=True, can_flap=True
        ),
        FaultSpec("sms_outage", "An SMS provider returns HTTP 503.", accepts_provider=True, can_flap=True),
        FaultSpec(
            "payment_errors",
            "A share of payments is declined or errors at the payment provider.",
            rate_unit="error rate (0..1)",
            default_rate=0.25,
            max_rate=1.0,
            can_flap=True,
        ),
        FaultSpec(
            "disk_fill",
            "Rendered invoices/contracts pile up in the on-disk cache in bursts every 15 s.",
            rate_unit="MiB/s (average)",
            default_rate=64.0,
            max_rate=100_000,
        ),
        FaultSpec(
            "cascade",
            "A fast pool leak: database degrades then goes down, auth fails, then payment errors climb.",
            rate_unit="connections/s",
            default_rate=2.0,
            max_rate=1000,
            leak=True,
        ),
        FaultSpec(
            "bad_deploy",
            "Deploys a faulty new version (payment errors +20%); rollback-deployment is the cure.",
        ),
    )
}


class FaultParamError(ValueError):
    """Parameters that the fault does not accept; answered with HTTP 422."""


def resolve_params(spec: FaultSpec, params: FaultParams) -> FaultParams:
    """Check fault-specific bounds and fill the default rate."""
    if params.rate is not None and spec.rate_unit is None:
        raise FaultParamError(f"fault {spec.name!r} takes no 'rate'")
    if params.rate is not None and spec.max_rate is not None and params.rate > spec.max_rate:
        raise FaultParamError(
            f"fault {spec.name!r}: rate {params.rate} is above the maximum {spec.max_rate} ({spec.rate_unit})"
        )
    if params.provider is not None and not spec.accepts_provider:
        raise FaultParamError(f"fault {spec.name!r} takes no 'provider'")
    if params.persistent and not spec.leak:
        raise FaultParamError(f"fault {spec.name!r} takes no 'persistent' (only leaks do)")
    if params.flap_seconds is not None and not spec.can_flap:
        raise FaultParamError(
            f"fault {spec.name!r} takes no 'flap_seconds' "
            "(only db_outage, email_outage, sms_outage and payment_errors flap)"
        )
    updates: dict[str, object] = {}
    if params.rate is None and spec.default_rate is not None:
        updates["rate"] = spec.default_rate
    if spec.accepts_provider and params.provider is None:
        updates["provider"] = "primary"
    return params.model_copy(update=updates)
