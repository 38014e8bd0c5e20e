"""Response and request models of the REST API (every route declares one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from forewarn.events import Detection, ForecastEvent, Incident

T = TypeVar("T")

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
    params: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(min_length=1, max_length=1000)


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
        503: "No healing engine attached to this API process",
    }
    return {code: {"model": ErrorOut, "description": text[code]} for code in codes}
