"""Response and request models of the REST API (every route declares one)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from forewarn.events import Detection, ForecastEvent, Incident

T = TypeVar("T")
MAX_PARAMS = 32
MAX_PARAMS_DEPTH = 6
MAX_PARAMS_BYTES = 8 * 1024

__all__ = [
    "ApproveIn",
    "Cost",
    "DenyIn",
    "Detection",
    "ForecastOut",
    "HealthOut",
    "IncidentOut",
    "KillSwitchIn",
    "KillSwitchOut",
    "Page",
    "ServiceOut",
    "SloOut",
    "TopicHealth",
    "TriggerIn",
]


class Page(BaseModel, Generic[T]):
    """A page of results, newest first; ``next_offset`` is None on the last page."""

    items: list[T]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class ForecastOut(ForecastEvent):
    """A forecast as the forecasts topic carries it, with its freshness."""

    age_seconds: float = Field(description="Freshness: seconds since the observation behind it.")


class Cost(BaseModel):
    downtime_minutes: float
    cost: float
    users_affected: float
    currency: str


class IncidentOut(Incident):
    """An incident as the incidents topic carries it, with its report as Markdown and its priced impact."""

    title: str | None = Field(None, description="The report's title, when it has one.")
    report_markdown: str | None = Field(None, description="The report (LLM-written or offline; advisory).")
    impact: Cost | None = None


class ApproveIn(BaseModel):
    model_config = ConfigDict(strict=True)  # 0 is not False, 1 is not a string

    note: str | None = Field(None, max_length=1000)


class DenyIn(BaseModel):
    model_config = ConfigDict(strict=True)  # 0 is not False, 1 is not a string

    reason: str = Field(min_length=1, max_length=1000)


class TriggerIn(BaseModel):
    model_config = ConfigDict(strict=True)  # 0 is not False, 1 is not a string

    service: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    action: str = Field(min_length=1, max_length=128)
    params: dict[str, Any] = Field(
        default_factory=dict,
        max_length=MAX_PARAMS,
        description=f"Finite JSON (no NaN or Infinity), at most {MAX_PARAMS} keys, "
        f"{MAX_PARAMS_DEPTH} levels deep and {MAX_PARAMS_BYTES} bytes.",
    )
    reason: str = Field(min_length=1, max_length=1000)

    @field_validator("params")
    @classmethod
    def _finite_json(cls, params: dict[str, Any]) -> dict[str, Any]:
        check_params(params)
        return params


def check_params(params: dict[str, Any]) -> None:
    """Raise ValueError unless ``params`` is plain, finite, bounded JSON.

    Why: Python's JSON reader takes ``NaN`` and ``Infinity``, which no other JSON reader (nor the
    audit trail's consumers) accepts, and params travel to the responder and into the audit log, so
    their size and depth are bounded here rather than trusted.
    """
    todo: list[tuple[Any, int]] = [(params, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("params must be finite JSON: NaN and Infinity are not allowed")
        if isinstance(value, dict | list):
            if depth > MAX_PARAMS_DEPTH:
                raise ValueError(f"params nest deeper than {MAX_PARAMS_DEPTH} levels")
            todo.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    if len(json.dumps(params)) > MAX_PARAMS_BYTES:
        raise ValueError(f"params are over {MAX_PARAMS_BYTES} bytes as JSON")


class ControlRequestOut(BaseModel):
    """An operator request queued for the healing executor's process (``forewarn respond``)."""

    id: str
    verb: str = Field(description="approve, deny or trigger.")
    target: str = Field(description="The action id (approve, deny) or the service (trigger).")
    actor: str
    status: str = Field(description="pending until the responder applies it; then applied or refused.")
    result: dict[str, Any] | None = Field(None, description="The outcome: records, or why it was refused.")
    created_at: datetime
    updated_at: datetime
    payload: dict[str, Any] = Field(default_factory=dict)


class KillSwitchIn(BaseModel):
    model_config = ConfigDict(strict=True)  # 0 is not False, 1 is not a string

    engaged: bool
    reason: str = Field(min_length=1, max_length=1000)


class KillSwitchOut(BaseModel):
    engaged: bool
    executor_mode: str | None


class SloOut(BaseModel):
    objective: str
    target: float
    sli: float | None
    good: int
    total: int
    error_budget_remaining: float | None
    burn_rates: dict[str, float]
    alerts: list[str] = Field(description="Firing burn-rate alerts, e.g. 'page: 1h/5m burn 20.1 > 14.4'.")


class ServiceOut(BaseModel):
    name: str
    health: str = Field(description="ok, degraded, down or unknown (latest probe)")
    last_probe_at: datetime | None
    depends_on: list[str]
    dependents: list[str]
    slo: list[SloOut]
    downtime_cost: Cost


class TopicHealth(BaseModel):
    topic: str
    messages: int
    rejected: int
    last_event_age_seconds: float | None
    last_received_age_seconds: float | None


class HealthOut(BaseModel):
    status: str = Field(description="ok, or stale when no event arrived for longer than the stale limit")
    now: datetime
    pipeline_lag_seconds: float | None = Field(description="Now minus the newest event time the store holds.")
    topics: list[TopicHealth]
    models_tracked: int = Field(description="Distinct forecast series and detection series in the store.")
    llm_budget_remaining_usd: float | None
    executor_mode: str | None
    kill_switch_engaged: bool | None


class ErrorOut(BaseModel):
    """Every 4xx/5xx body: one human-readable ``detail`` (422 validation errors list the fields)."""

    detail: str


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error codes a route can return."""
    text = {
        400: "Bad request (e.g. since >= until, bad duration)",
        401: "Missing or unknown API key",
        403: "The API key lacks admin scope",
        404: "Not found",
        409: "The healing engine refused (not pending, guard, kill switch, unknown action)",
        413: "The request body is over api.max_body_bytes (64 KiB by default)",
        429: "Too many calls with this API key; retry after Retry-After seconds",
        503: "No healing engine attached to this API process",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in (*codes, 429):  # every route is rate limited per key
        out[code] = {"model": ErrorOut, "description": text[code]}
    out[429]["headers"] = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
    return out
