"""Small builders of valid events shared by tests of different areas."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Literal

from forewarn.events import (
    Detection,
    ForecastEvent,
    ForecastFigures,
    Incident,
    LogTemplateDigest,
    LogTemplateSummary,
    Severity,
)


def make_detection(
    service: str,
    at: datetime,
    *,
    kind: str = "failure",
    series: str | None = None,
    severity: Severity = Severity.CRITICAL,
    score: float = 0.9,
    confidence: float = 0.9,
    value: float = 1.0,
    expected: float | None = 0.0,
    reason: str | None = None,
    features: dict[str, float] | None = None,
    forecast: ForecastFigures | None = None,
    detector: str = "test",
    delay_seconds: float = 0.0,
) -> Detection:
    """A detection as the dataflow would emit it (id derived the same way), with test defaults.

    ``delay_seconds``: how long after the observation the detection was made (``detected_at``).
    """
    series = series or f"{service}/{kind}"
    return Detection(
        id=Detection.make_id(series, detector, kind, at),
        service=service,
        series=series,
        detection_kind=kind,
        detector=detector,
        timestamp=at,
        detected_at=at + timedelta(seconds=delay_seconds),
        score=score,
        confidence=confidence,
        severity=severity,
        value=value,
        expected=expected,
        reason=reason or f"{service} is failing",
        features=features or {},
        forecast=forecast,
    )


def forecast_figures(tte: float | None, probability: float = 0.9, capacity: float = 1.0) -> ForecastFigures:
    """The figures of an exhaustion forecast detection: breach in ``tte`` seconds with ``probability``."""
    return ForecastFigures(
        horizon_seconds=900.0,
        breach_probability=probability,
        time_to_exhaustion_seconds=tte,
        rate_per_second=0.001,
        trend_z=5.0,
        capacity=capacity,
        confidence=0.8,
    )


def make_forecast(
    service: str,
    metric: str,
    at: datetime,
    *,
    horizon: float = 900.0,
    point: float = 0.8,
    tte: float | None = 1200.0,
    probability: float = 0.7,
) -> ForecastEvent:
    """A forecasts-topic message as the pipeline emits it (id derived the same way), with test defaults."""
    series = f"{service}/{metric}"
    return ForecastEvent(
        id=ForecastEvent.make_id(series, horizon, at),
        service=service,
        series=series,
        metric=metric,
        model="holt-linear",
        timestamp=at,
        generated_at=at,
        current_value=point - 0.05,
        horizon_seconds=horizon,
        point=point,
        lower=point - 0.1,
        upper=point + 0.1,
        interval_level=0.9,
        threshold=1.0,
        breach_probability=probability,
        time_to_exhaustion_seconds=tte,
        time_to_exhaustion_lower=None if tte is None else tte * 0.7,
        time_to_exhaustion_upper=None if tte is None else tte * 1.4,
        confidence=0.6,
    )


def make_incident(
    ident: str,
    service: str,
    opened: datetime,
    *,
    status: Literal["open", "resolved"] = "open",
    resolved: datetime | None = None,
    severity: Severity = Severity.CRITICAL,
    detections: list[Detection] | None = None,
) -> Incident:
    """An incident as the responder publishes it (no report), with test defaults."""
    return Incident(
        id=ident,
        fingerprint=Incident.make_fingerprint(service, "failure"),
        service=service,
        services=[service],
        status=status,
        opened_at=opened,
        updated_at=resolved or opened,
        resolved_at=resolved,
        severity=severity,
        detections=detections or [],
    )


def demo_pool_usage(rng: random.Random, calm_seconds: int, seconds: int) -> list[float]:
    """The demo app's DB pool as a usage ratio at 1 s probes: 50 connections, 6 +-2 in use, then a leak.

    Calm for ``calm_seconds``, then 0.5 connections leaked per second (full ~88 s later); ``seconds``
    values in all. Shared by the forecaster's and the dataflow's sudden-leak tests.
    """
    values = []
    for i in range(seconds):
        leaked = 0.5 * max(0, i - calm_seconds)
        values.append(min(50, 6 + rng.randint(-1, 2) + int(leaked)) / 50)
    return values


def make_template(
    service: str, at: datetime, count: int, *, level: str = "ERROR", cluster: int = 7, span: float = 4.0
) -> LogTemplateSummary:
    """A template seen ``count`` times from ``at`` to ``at + span`` seconds, as in a dataflow digest."""
    return LogTemplateSummary(
        template_id=f"{service}:{cluster}",
        service=service,
        template=f"{service} delivery failed via <*>: SMTP <NUM> (cluster {cluster})",
        count=count,
        levels={level: count},
        first_seen=at,
        last_seen=at + timedelta(seconds=span),
    )


def make_digest(service: str, at: datetime, *templates: LogTemplateSummary) -> LogTemplateDigest:
    """The dataflow's digest of ``service`` for the 4 s from ``at``, holding ``templates``."""
    end = at + timedelta(seconds=4)
    return LogTemplateDigest(
        id=LogTemplateDigest.make_id(service, at, end),
        service=service,
        window_start=at,
        window_end=end,
        lines=sum(t.count for t in templates),
        templates=list(templates),
    )
