"""The detections and forecasts topics' schemas: what the pipeline concludes from the telemetry."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from forewarn.events.base import Name, Severity, TopicMessage

# Alerts from an outside Alertmanager (``forewarn receive``) arrive as detections of these kinds, one
# series per alert (``<service>/alert/<alertname>/<fingerprint>``). A resolved alert is a detection
# too, so it travels the same topic in order after its firing one; the responder closes the incident
# it opened instead of grouping it.
ALERT_DETECTOR = "alertmanager"
ALERT_FIRING = "alert"
ALERT_RESOLVED = "alert_resolved"


class ForecastFigures(BaseModel):
    """The forecast behind a forecast-driven detection (``exhaustion_forecast``), typed.

    Why a field of its own rather than keys in ``Detection.features``: the responder, the healing
    triggers and the reports read these figures by name; a typo in a string key read None silently.
    """

    model_config = ConfigDict(frozen=True)

    horizon_seconds: float = Field(gt=0)
    breach_probability: float = Field(ge=0.0, le=1.0)
    time_to_exhaustion_seconds: float | None = Field(default=None, ge=0.0)
    time_to_exhaustion_lower: float | None = Field(default=None, ge=0.0)
    time_to_exhaustion_upper: float | None = Field(default=None, ge=0.0)
    rate_per_second: float  # the growth rate the time to exhaustion assumes
    trend_z: float  # how many standard errors the trend is above zero
    capacity: float  # the value the series exhausts at
    confidence: float = Field(ge=0.0, le=1.0)


class Detection(TopicMessage):
    """Something unusual on one series, with how sure we are and what drove it.

    ``id`` is derived from series, detector, kind and event time, so a re-delivered event yields the
    same id and downstream sinks and actions stay idempotent. ``forecast`` is set on forecast-driven
    detections only (an older message without it still validates).
    """

    kind: Literal["detection"] = "detection"
    id: str
    service: Name
    series: str
    detection_kind: str  # e.g. "latency_anomaly", "failure", "metric_anomaly"
    detector: str
    timestamp: datetime  # event time of the triggering event
    detected_at: datetime  # wall clock when the detector emitted it
    score: float = Field(ge=0.0, le=1.0)
    confidence: float = Field(ge=0.0, le=1.0)
    severity: Severity
    value: float
    expected: float | None = None
    reason: str
    features: dict[str, float] = Field(default_factory=dict)
    forecast: ForecastFigures | None = None

    @staticmethod
    def make_id(series: str, detector: str, detection_kind: str, timestamp: datetime) -> str:
        raw = f"{series}|{detector}|{detection_kind}|{timestamp.isoformat()}"
        return hashlib.sha256(raw.encode()).hexdigest()[:24]


class ForecastEvent(TopicMessage):
    """Where one resource series is heading: the forecasts topic's message.

    ``id`` is derived from series, horizon and the event time, so a re-delivered observation yields
    the same id (idempotent sinks). ``threshold`` is the capacity the series exhausts at (e.g. 1.0 for
    a usage ratio); ``time_to_exhaustion_seconds`` is None when no crossing is expected at the
    current trend.
    """

    kind: Literal["forecast"] = "forecast"
    id: str
    service: Name
    series: str
    metric: str
    model: str
    timestamp: datetime  # event time of the newest observation the forecast used
    generated_at: datetime
    current_value: float
    horizon_seconds: float = Field(gt=0)
    point: float
    lower: float
    upper: float
    interval_level: float = Field(gt=0, lt=1)
    threshold: float | None = None
    breach_probability: float | None = Field(default=None, ge=0.0, le=1.0)
    time_to_exhaustion_seconds: float | None = Field(default=None, ge=0.0)
    time_to_exhaustion_lower: float | None = Field(default=None, ge=0.0)
    time_to_exhaustion_upper: float | None = Field(default=None, ge=0.0)
    confidence: float = Field(ge=0.0, le=1.0)

    @staticmethod
    def make_id(series: str, horizon_seconds: float, timestamp: datetime) -> str:
        raw = f"{series}|{horizon_seconds:g}|{timestamp.isoformat()}"
        return hashlib.sha256(raw.encode()).hexdigest()[:24]


__all__ = [
    "ALERT_DETECTOR",
    "ALERT_FIRING",
    "ALERT_RESOLVED",
    "Detection",
    "ForecastEvent",
    "ForecastFigures",
]
