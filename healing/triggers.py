"""What the executor reacts to: one small input model, built from a detection, a forecast or an incident.

Why its own model: detections (``forewarn.events.Detection``), forecasts (``models.base.Forecast``)
and incidents (``forewarn.incidents``) evolve on their own; the executor depends only on the few
fields a policy can match on. Converters below adapt each source.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from forewarn.events import Detection, Severity
from forewarn.models.base import Forecast

TriggerSource = Literal["detection", "forecast", "incident", "manual"]


class Trigger(BaseModel):
    """One reason to consider healing a service.

    ``id`` is stable across re-deliveries (a detection's id, a forecast's series+window), and
    ``incident_id`` groups triggers of one incident; the idempotency key of every action step is
    built from ``incident_id`` (or ``id``), the action and the step.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=200)
    source: TriggerSource
    kind: str = Field(min_length=1, max_length=100)  # detection_kind, or forecast kind
    service: str = Field(min_length=1, max_length=64)
    series: str | None = None
    severity: Severity = Severity.WARNING
    confidence: float = Field(1.0, ge=0.0, le=1.0)
    breach_probability: float | None = Field(None, ge=0.0, le=1.0)
    lead_time_seconds: float | None = Field(None, ge=0.0)  # time left before the forecast breach
    timestamp: datetime
    incident_id: str | None = None
    issue_class: str | None = None  # filled by the classifier when absent
    reason: str = ""
    features: dict[str, float] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)  # the series' labels; notification routes match them

    @property
    def predictive(self) -> bool:
        """True when the breach has not happened yet (acting now is acting early)."""
        return self.source == "forecast" and (self.lead_time_seconds or 0.0) > 0.0

    @property
    def group_id(self) -> str:
        return self.incident_id or self.id

    @classmethod
    def from_detection(cls, detection: Detection, incident_id: str | None = None) -> Trigger:
        return cls(
            id=detection.id,
            source="detection",
            kind=detection.detection_kind,
            service=detection.service,
            series=detection.series,
            severity=detection.severity,
            confidence=detection.confidence,
            timestamp=detection.timestamp,
            incident_id=incident_id,
            reason=detection.reason,
            features=dict(detection.features),
            details={"detector": detection.detector, "score": detection.score, "value": detection.value},
            labels=dict(getattr(detection, "labels", None) or {}),  # detections may carry series labels
        )

    @classmethod
    def from_forecast(
        cls,
        forecast: Forecast,
        *,
        service: str,
        series: str,
        kind: str,
        observed_at: datetime,
        severity: Severity = Severity.WARNING,
        incident_id: str | None = None,
        window_seconds: float = 300.0,
    ) -> Trigger:
        """A forecast of exhaustion; its id is stable within ``window_seconds`` so repeats dedupe."""
        bucket = int(observed_at.timestamp() // window_seconds)
        raw = f"{service}|{series}|{kind}|{bucket}"
        return cls(
            id="fc-" + hashlib.sha256(raw.encode()).hexdigest()[:20],
            source="forecast",
            kind=kind,
            service=service,
            series=series,
            severity=severity,
            confidence=forecast.confidence,
            breach_probability=forecast.breach_probability,
            lead_time_seconds=forecast.time_to_exhaustion_seconds,
            timestamp=observed_at,
            incident_id=incident_id,
            reason=(
                f"{series} forecast to breach in {forecast.time_to_exhaustion_seconds:.0f}s "
                f"(P={forecast.breach_probability})"
                if forecast.time_to_exhaustion_seconds is not None
                else f"{series} forecast P(breach)={forecast.breach_probability}"
            ),
            details={"point": forecast.point, "upper": forecast.upper, "horizon": forecast.horizon_seconds},
        )


class IncidentLike(Protocol):
    """The part of an incident the executor needs (``forewarn.events.Incident`` fits).

    Optional attributes read when present: ``severity``, ``opened_at``/``updated_at`` and
    ``detections`` (the first detection on the incident's root service gives kind, series, features).
    """

    @property
    def id(self) -> str: ...

    @property
    def service(self) -> str: ...


def from_incident(
    incident: IncidentLike,
    *,
    kind: str | None = None,
    severity: Severity | None = None,
    issue_class: str | None = None,
    timestamp: datetime | None = None,
    reason: str = "",
) -> Trigger:
    """A trigger for a whole incident; its actions are keyed by the incident id (one heal per incident)."""
    detections: list[Any] = list(getattr(incident, "detections", []) or [])
    root = next((d for d in detections if getattr(d, "service", None) == incident.service), None)
    root = root or (detections[0] if detections else None)
    stamp = timestamp or getattr(incident, "updated_at", None) or getattr(incident, "opened_at", None)
    return Trigger(
        id=f"inc-{incident.id}",
        source="incident",
        kind=kind or (root.detection_kind if root is not None else "incident"),
        service=incident.service,
        series=root.series if root is not None else None,
        severity=severity or getattr(incident, "severity", None) or Severity.CRITICAL,
        confidence=root.confidence if root is not None else 1.0,
        timestamp=stamp or datetime.now(UTC),
        incident_id=incident.id,
        issue_class=issue_class,
        reason=reason or (root.reason if root is not None else ""),
        features=dict(root.features) if root is not None else {},
    )


__all__ = ["IncidentLike", "Trigger", "TriggerSource", "from_incident"]
