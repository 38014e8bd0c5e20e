"""Builders of realistic events as producers put them on the topics (JSON dicts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from forewarn.events import ProbeResult
from tests.factories import make_detection

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def probe(service: str, at: datetime, *, ok: bool = True, latency_ms: float = 40.0) -> dict[str, Any]:
    return ProbeResult(
        service=service,
        endpoint=f"http://127.0.0.1:8080/api/health/{service}",
        timestamp=at,
        latency_ms=latency_ms,
        status_code=200 if ok else 503,
        ok=ok,
        status="ok" if ok else "down",
    ).model_dump(mode="json")


def detection(service: str, at: datetime, *, kind: str = "failure", score: float = 0.9) -> dict[str, Any]:
    return make_detection(
        service,
        at,
        kind=kind,
        series=f"{service}/probe",
        detector="zscore",
        delay_seconds=1.0,
        score=score,
        confidence=0.8,
        reason=f"{service} probes failing",
    ).model_dump(mode="json")


def forecast(
    service: str,
    metric: str,
    at: datetime,
    *,
    horizon: float = 900.0,
    point: float = 0.8,
    tte: float | None = 1200.0,
) -> dict[str, Any]:
    return {
        "kind": "forecast",
        "service": service,
        "metric": metric,
        "timestamp": at.isoformat(),
        "horizon_seconds": horizon,
        "point": point,
        "lower": point - 0.1,
        "upper": point + 0.1,
        "interval_level": 0.9,
        "threshold": 1.0,
        "breach_probability": 0.7,
        "time_to_exhaustion_seconds": tte,
        "time_to_exhaustion_lower": None if tte is None else tte * 0.7,
        "time_to_exhaustion_upper": None if tte is None else tte * 1.4,
        "model": "holt-linear",
        "confidence": 0.6,
    }


def incident(
    ident: str, service: str, opened: datetime, *, status: str = "open", resolved: datetime | None = None
) -> dict[str, Any]:
    return {
        "id": ident,
        "service": service,
        "opened_at": opened.isoformat(),
        "updated_at": (resolved or opened).isoformat(),
        "resolved_at": None if resolved is None else resolved.isoformat(),
        "status": status,
        "severity": "critical",
        "title": f"{service} outage",
        "summary": f"{service} health checks failing",
        "report": {"markdown": f"# {service} outage\n\nRoot cause: pool exhausted.", "advisory": True},
        "detection_ids": [],
    }


def action(
    ident: str, service: str, at: datetime, *, status: str = "succeeded", name: str = "restart_pool"
) -> dict[str, Any]:
    return {
        "id": ident,
        "service": service,
        "action": name,
        "status": status,
        "requested_at": at.isoformat(),
        "updated_at": (at + timedelta(seconds=5)).isoformat(),
        "reason": "db pool exhaustion predicted",
        "incident_id": "inc-1",
        "dry_run": False,
    }
