"""Turn messages from the detections, forecasts and incidents topics into triggers; never raise.

Why lenient views: forecasts and incidents are produced by other components whose schemas evolve;
the executor needs only a few of their fields. A message that cannot become a trigger yields a
reason instead (the runner counts and logs it; it never stops for bad input).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from forewarn.events import Detection, Severity
from forewarn.healing.triggers import Trigger, from_incident
from forewarn.models.base import Forecast


class ForecastEvent(BaseModel):
    """A forecast on the forecasts topic (the fields of ``models.base.Forecast`` plus where it is from)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str | None = None
    service: str = Field(min_length=1, max_length=64)
    series: str = Field(validation_alias=AliasChoices("series", "metric", "name"))
    kind: str | None = Field(None, validation_alias=AliasChoices("forecast_kind", "kind_of_breach"))
    timestamp: datetime
    horizon_seconds: float = Field(ge=0, validation_alias=AliasChoices("horizon_seconds", "horizon"))
    point: float
    lower: float | None = None
    upper: float | None = None
    interval_level: float = 0.9
    breach_probability: float | None = Field(None, ge=0, le=1)
    time_to_exhaustion_seconds: float | None = Field(None, ge=0)
    confidence: float = Field(0.0, ge=0, le=1)
    severity: Severity = Severity.WARNING
    incident_id: str | None = None

    def to_trigger(self) -> Trigger:
        forecast = Forecast(
            horizon_seconds=self.horizon_seconds,
            point=self.point,
            lower=self.lower if self.lower is not None else self.point,
            upper=self.upper if self.upper is not None else self.point,
            interval_level=self.interval_level,
            breach_probability=self.breach_probability,
            time_to_exhaustion_seconds=self.time_to_exhaustion_seconds,
            confidence=self.confidence,
        )
        metric = self.series.rsplit("/", 1)[-1]
        stamp = self.timestamp if self.timestamp.tzinfo else self.timestamp.replace(tzinfo=UTC)
        return Trigger.from_forecast(
            forecast,
            service=self.service,
            series=self.series,
            kind=self.kind or f"{metric}_exhaustion",
            observed_at=stamp,
            severity=self.severity,
            incident_id=self.incident_id,
        )


class IncidentView(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    service: str
    status: str = "open"
    severity: Severity = Severity.CRITICAL
    opened_at: datetime | None = None
    updated_at: datetime | None = None
    detections: list[Detection] = Field(default_factory=list)


def to_trigger(source: str, raw: bytes | str) -> Trigger | str:
    """``source`` is detection, forecast or incident; returns a trigger or why there is none."""
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not JSON: {exc}"
    if not isinstance(data, dict):
        return "not a JSON object"
    try:
        if source == "detection":
            return Trigger.from_detection(Detection.model_validate(data))
        if source == "forecast":
            event = ForecastEvent.model_validate(data)
            if event.time_to_exhaustion_seconds is None and event.breach_probability is None:
                return "forecast without breach probability or time to exhaustion: nothing to act on"
            return event.to_trigger()
        if source == "incident":
            incident = IncidentView.model_validate(data)
            if incident.status != "open":
                return f"incident {incident.id} is {incident.status}"
            return from_incident(incident)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        return f"invalid {source}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return f"unknown source {source!r}"


__all__ = ["ForecastEvent", "IncidentView", "to_trigger"]
