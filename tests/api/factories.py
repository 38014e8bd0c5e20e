"""Builders of realistic events as producers put them on the topics (JSON dicts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from forewarn.events import (
    ActionEvent,
    ActionStatus,
    EvidenceItem,
    IncidentReport,
    ProbeResult,
)
from tests.factories import make_detection, make_forecast, make_incident

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


def forecast(service: str, metric: str, at: datetime, **fields: Any) -> dict[str, Any]:
    """``tests.factories.make_forecast`` as the JSON the topic carries."""
    return make_forecast(service, metric, at, **fields).model_dump(mode="json")


def report(service: str, at: datetime) -> IncidentReport:
    """An offline report of a pool exhaustion on ``service``."""
    return IncidentReport(
        title=f"{service} outage",
        impact=f"{service} health checks failing",
        probable_cause="Root cause: pool exhausted.",
        cause_service=service,
        cause_category="connection_pool_exhaustion",
        evidence=[EvidenceItem(kind="metric", ref=f"{service}/db_pool_usage", detail="100% in use")],
        runbook=["Restart the pool"],
        confidence=0.6,
        source="offline",
        generated_at=at,
    )


def incident(ident: str, service: str, opened: datetime, **fields: Any) -> dict[str, Any]:
    """``tests.factories.make_incident`` with an offline report, as the JSON the topic carries."""
    made = make_incident(ident, service, opened, **fields)
    return made.model_copy(update={"report": report(service, opened)}).model_dump(mode="json")


def action(
    ident: str, service: str, at: datetime, *, status: ActionStatus = "succeeded", name: str = "restart_pool"
) -> dict[str, Any]:
    return ActionEvent(
        id=ident,
        service=service,
        timestamp=at,
        updated_at=at + timedelta(seconds=5),
        incident_id="inc-1",
        trigger_id="det-1",
        issue_class="connection_pool_exhaustion",
        mode="auto",
        status=status,
        action=name,
        detail="db pool exhaustion predicted",
    ).model_dump(mode="json")
