"""The REST API through a real ASGI client over a real SQLite store: status, body and ``detail``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from forewarn.api.app import create_app
from forewarn.api.healing_adapter import QueuedControl
from forewarn.settings import ApiSettings, Settings
from forewarn.store.db import Store
from forewarn.store.records import Kind, parse_record
from tests.api.conftest import ADMIN_KEY, READ_KEY
from tests.api.doubles import FakeBudget, pending_action, queued_control
from tests.api.factories import T0, action, detection, forecast, incident, probe

pytestmark = pytest.mark.unit

NOW = T0 + timedelta(hours=1)
READ = {"X-API-Key": READ_KEY}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _put(store: Store, kind: Kind, *payloads: dict[str, object]) -> None:
    store.upsert(kind, [parse_record(kind, p) for p in payloads])


@pytest.fixture
def healing(store: Store, tmp_path: Path) -> QueuedControl:
    return queued_control(store, tmp_path)


@pytest.fixture
def client(store: Store, healing: QueuedControl) -> Iterator[TestClient]:
    settings = Settings(api=ApiSettings(read_keys=[READ_KEY], admin_keys=[ADMIN_KEY]))
    app = create_app(
        store,
        settings,
        registry=CollectorRegistry(),
        healing=healing,
        llm_budget=FakeBudget(4.25),
        clock=NOW.timestamp,
    )
    with TestClient(app) as test_client:
        yield test_client


def test_every_read_needs_a_key(client: TestClient) -> None:
    for path in (
        "/v1/forecasts",
        "/v1/detections",
        "/v1/incidents",
        "/v1/actions",
        "/v1/services",
        "/v1/health",
    ):
        response = client.get(path)
        assert response.status_code == 401, path
        assert "API key" in response.json()["detail"]
    assert client.get("/v1/detections", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/v1/detections", headers=READ).status_code == 200
    assert client.get("/v1/detections", headers=ADMIN).status_code == 200


def test_forecast_endpoint_returns_latest_with_freshness(client: TestClient, store: Store) -> None:
    _put(
        store,
        Kind.FORECAST,
        forecast("database", "db_pool_in_use", T0, point=0.5),
        forecast("database", "db_pool_in_use", T0 + timedelta(minutes=30), point=0.85, tte=600.0),
        forecast("database", "db_pool_in_use", T0 + timedelta(minutes=30), horizon=3600, point=0.99),
        forecast("auth", "memory_bytes", T0, point=2e8, tte=None),
    )
    body = client.get(
        "/v1/forecasts",
        params={"service": "database", "metric": "db_pool_in_use", "horizon": "15m"},
        headers=READ,
    ).json()
    assert body["total"] == 1 and body["next_offset"] is None
    item = body["items"][0]
    assert item["point"] == 0.85
    assert item["time_to_exhaustion_seconds"] == 600.0
    assert item["time_to_exhaustion_lower"] == pytest.approx(420.0)
    assert item["breach_probability"] == 0.7
    assert item["model"] == "holt-linear"
    assert item["age_seconds"] == pytest.approx(1800.0)
    history = client.get("/v1/forecasts", params={"latest": "false"}, headers=READ).json()
    assert history["total"] == 4
    bad = client.get("/v1/forecasts", params={"horizon": "soon"}, headers=READ)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "horizon"]
    naive = client.get("/v1/forecasts", params={"since": "2026-11-20T12:00:00"}, headers=READ)
    assert naive.status_code == 422 and "RFC 3339" in naive.json()["detail"][0]["msg"]


def test_detections_pagination_and_time_range(client: TestClient, store: Store) -> None:
    _put(store, Kind.DETECTION, *(detection("auth", T0 + timedelta(minutes=i)) for i in range(25)))
    first = client.get("/v1/detections", params={"limit": 10}, headers=READ).json()
    assert first["total"] == 25 and len(first["items"]) == 10 and first["next_offset"] == 10
    last = client.get("/v1/detections", params={"limit": 10, "offset": 20}, headers=READ).json()
    assert len(last["items"]) == 5 and last["next_offset"] is None
    windowed = client.get(
        "/v1/detections",
        params={
            "since": (T0 + timedelta(minutes=5)).isoformat(),
            "until": (T0 + timedelta(minutes=8)).isoformat(),
        },
        headers=READ,
    ).json()
    assert windowed["total"] == 3
    backwards = client.get(
        "/v1/detections", params={"since": NOW.isoformat(), "until": T0.isoformat()}, headers=READ
    )
    assert backwards.status_code == 400 and "since" in backwards.json()["detail"]
    assert client.get("/v1/detections", params={"limit": 0}, headers=READ).status_code == 422
    one = first["items"][0]["id"]
    assert client.get(f"/v1/detections/{one}", headers=READ).json()["id"] == one
    missing = client.get("/v1/detections/nope", headers=READ)
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_incident_has_report_and_priced_impact(client: TestClient, store: Store) -> None:
    # payments down from T0+10s to T0+130s (probes every 10 s): 2 minutes at 50 USD/min, 10 users/min.
    _put(
        store,
        Kind.PROBE,
        *(probe("payments", T0 + timedelta(seconds=s), ok=not 10 <= s < 130) for s in range(0, 300, 10)),
    )
    _put(
        store,
        Kind.INCIDENT,
        incident("inc-1", "payments", T0, status="resolved", resolved=T0 + timedelta(minutes=5)),
    )
    body = client.get("/v1/incidents/inc-1", headers=READ).json()
    assert body["report_markdown"].startswith("# payments outage")
    assert body["status"] == "resolved"
    assert body["impact"]["downtime_minutes"] == pytest.approx(2.0)
    assert body["impact"]["cost"] == pytest.approx(100.0)
    assert body["impact"]["users_affected"] == pytest.approx(20.0)
    listing = client.get("/v1/incidents", params={"status": "resolved"}, headers=READ).json()
    assert [i["id"] for i in listing["items"]] == ["inc-1"]
    assert client.get("/v1/incidents/missing", headers=READ).status_code == 404


def test_actions_history_and_admin_verbs(client: TestClient, store: Store, healing: QueuedControl) -> None:
    _put(
        store,
        Kind.ACTION,
        action("a-old", "database", T0),
        pending_action("a-1", "database", "restart_pool"),
    )
    history = client.get("/v1/actions", headers=READ).json()
    assert history["total"] == 2
    pending = client.get("/v1/actions/pending", headers=READ).json()
    assert [a["id"] for a in pending["items"]] == ["a-1"]

    forbidden = client.post("/v1/actions/a-1/approve", headers=READ, json={})
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["detail"]
    approved = client.post("/v1/actions/a-1/approve", headers=ADMIN, json={})
    assert approved.status_code == 202, approved.json()
    request = approved.json()
    assert request["status"] == "pending" and request["verb"] == "approve" and request["target"] == "a-1"
    assert request["actor"].startswith("admin-key-")
    shown = client.get(f"/v1/actions/requests/{request['id']}", headers=READ)
    assert shown.status_code == 200 and shown.json()["status"] == "pending"
    # Idempotent by id: approving again while the first request waits returns that same request.
    again = client.post("/v1/actions/a-1/approve", headers=ADMIN, json={})
    assert again.status_code == 202 and again.json()["id"] == request["id"]
    assert store.control.pending() == [store.control.get(request["id"])]
    # Once the action is no longer pending (the responder applied it), approving it is a conflict.
    _put(store, Kind.ACTION, {**action("a-1", "database", T0), "status": "succeeded"})
    late = client.post("/v1/actions/a-1/approve", headers=ADMIN, json={})
    assert late.status_code == 409 and "not waiting for approval" in late.json()["detail"]
    assert client.post("/v1/actions/ghost/deny", headers=ADMIN, json={"reason": "no"}).status_code == 404
    assert client.post("/v1/actions/a-1/deny", headers=ADMIN, json={}).status_code == 422
    assert client.get("/v1/actions/requests/ghost", headers=READ).status_code == 404

    triggered = client.post(
        "/v1/actions",
        headers={**ADMIN, "Idempotency-Key": "op-1"},
        json={
            "service": "email",
            "action": "failover_email",
            "reason": "provider down",
            "params": {"to": "b"},
        },
    )
    assert triggered.status_code == 202 and triggered.json()["status"] == "pending"
    assert triggered.json()["id"] == "trigger:op-1" and triggered.json()["target"] == "email"
    assert triggered.json()["payload"]["params"] == {"to": "b"}
    unknown = client.post(
        "/v1/actions", headers=ADMIN, json={"service": "email", "action": "rm_rf", "reason": "x"}
    )
    assert unknown.status_code == 409 and "unknown action" in unknown.json()["detail"]

    assert client.get("/v1/actions/kill-switch", headers=READ).json() == {
        "engaged": False,
        "executor_mode": "approve",
    }
    assert (
        client.put("/v1/actions/kill-switch", headers=READ, json={"engaged": True, "reason": "x"}).status_code
        == 403
    )
    engaged = client.put(
        "/v1/actions/kill-switch", headers=ADMIN, json={"engaged": True, "reason": "incident review"}
    )
    assert engaged.json()["engaged"] is True and healing.kill_switch.engaged()
    blocked = client.post(
        "/v1/actions", headers=ADMIN, json={"service": "email", "action": "failover_email", "reason": "x"}
    )
    assert blocked.status_code == 409 and "kill switch" in blocked.json()["detail"]


def test_admin_verbs_without_engine_say_so(store: Store) -> None:
    settings = Settings(api=ApiSettings(admin_keys=[ADMIN_KEY]))
    with TestClient(create_app(store, settings, registry=CollectorRegistry())) as bare:
        response = bare.post("/v1/actions/a/approve", headers=ADMIN, json={})
        assert response.status_code == 503 and "no healing engine" in response.json()["detail"]


def test_services_health_graph_and_slo(client: TestClient, store: Store) -> None:
    # auth: 1000 probes in the last ~17 min, 20 failed at the end -> availability 98%, burning fast.
    start = NOW - timedelta(seconds=1000)
    _put(
        store,
        Kind.PROBE,
        *(probe("auth", start + timedelta(seconds=i), ok=i < 980, latency_ms=50.0) for i in range(1000)),
    )
    services = {s["name"]: s for s in client.get("/v1/services", headers=READ).json()}
    assert set(services) >= {"auth", "database", "payments", "overall"}
    auth = services["auth"]
    assert auth["health"] == "down"
    assert auth["depends_on"] == ["database"]
    assert "auth" in services["database"]["dependents"]
    availability = next(s for s in auth["slo"] if s["objective"] == "availability")
    assert availability["target"] == 0.999
    assert availability["sli"] == pytest.approx(0.98)
    assert availability["error_budget_remaining"] == pytest.approx(1 - 0.02 / 0.001)
    assert any(a.startswith("page: 1h/5m") for a in availability["alerts"])
    assert services["sms"]["health"] == "unknown" and services["sms"]["slo"][0]["sli"] is None
    graph = client.get("/v1/services/graph", headers=READ).json()
    assert {"service": "payments", "depends_on": "auth"} in graph["edges"]
    assert client.get("/v1/services/nosuch", headers=READ).status_code == 404


def test_health_meta_monitoring(client: TestClient, store: Store) -> None:
    assert client.get("/v1/health", headers=READ).json()["status"] == "stale"
    _put(store, Kind.FORECAST, forecast("database", "db_pool_in_use", T0))
    _put(store, Kind.DETECTION, detection("auth", T0), detection("sms", T0))
    store.record_topic(
        "forewarn.probes", messages=10, rejected=1, last_offset=9, last_event_ts=NOW.timestamp() - 30
    )
    body = client.get("/v1/health", headers=READ).json()
    assert body["status"] == "ok"
    assert body["pipeline_lag_seconds"] == pytest.approx(30.0)
    assert body["topics"][0]["topic"] == "forewarn.probes" and body["topics"][0]["rejected"] == 1
    assert body["models_tracked"] == 3
    assert body["llm_budget_remaining_usd"] == 4.25
    assert body["executor_mode"] == "approve" and body["kill_switch_engaged"] is False


def test_metrics_and_openapi(client: TestClient, store: Store) -> None:
    _put(store, Kind.PROBE, probe("auth", NOW - timedelta(seconds=5), ok=False))
    _put(store, Kind.INCIDENT, incident("inc-9", "auth", NOW - timedelta(minutes=1)))
    client.get("/v1/detections", headers=READ)
    text = client.get("/metrics").text
    assert 'forewarn_api_requests_total{method="GET",route="/v1/detections",status="200"} 1.0' in text
    assert 'forewarn_incidents{service="auth",status="open"} 1.0' in text
    assert 'forewarn_slo_sli_ratio{objective="availability",service="auth"} 0.0' in text
    schema = client.get("/openapi.json").json()
    assert {"/v1/forecasts", "/v1/actions/{action_id}/approve", "/v1/health"} <= set(schema["paths"])


def test_incidents_from_the_incident_engine_render_their_report(client: TestClient, store: Store) -> None:
    from forewarn.events import EvidenceItem, Incident, IncidentReport, Severity

    fingerprint = Incident.make_fingerprint("database", "failure")
    real = Incident(
        id=Incident.make_id(fingerprint, T0),
        fingerprint=fingerprint,
        service="database",
        services=["auth", "database"],
        opened_at=T0,
        updated_at=T0 + timedelta(minutes=2),
        severity=Severity.CRITICAL,
        report=IncidentReport(
            title="Database connection pool exhausted",
            impact="Logins and payments fail.",
            probable_cause="Connections are leaked by the booking job.",
            cause_service="database",
            cause_category="connection_pool_exhaustion",
            evidence=[EvidenceItem(kind="detection", ref="abc", detail="pool 100% used")],
            runbook=["Restart the pool", "Find the leaking query"],
            confidence=0.7,
            source="offline",
            generated_at=T0 + timedelta(minutes=1),
        ),
    )
    store.upsert(Kind.INCIDENT, [parse_record(Kind.INCIDENT, real.model_dump(mode="json"))])
    body = client.get(f"/v1/incidents/{real.id}", headers=READ).json()
    assert body["title"] == "Database connection pool exhausted"
    assert body["severity"] == "critical" and body["status"] == "open"
    assert "**Probable cause:** Connections are leaked by the booking job." in body["report_markdown"]
    assert "2. Find the leaking query" in body["report_markdown"]
    assert body["services"] == ["auth", "database"]
