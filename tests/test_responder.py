"""The responder: detections become one incident with a report, and healing is asked once per detection.

Unit tests use small recording doubles for the executor and reporter (their own tests cover them);
``test_respond_service_heals_the_real_demo_app`` runs the real chain over Kafka and HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from forewarn.events import Detection, Incident, IncidentReport, Severity
from forewarn.healing.records import ActionDecision
from forewarn.healing.triggers import Trigger
from forewarn.incidents.offline import OfflineReporter
from forewarn.incidents.responder import Responder
from forewarn.incidents.tracker import IncidentTracker
from forewarn.settings import HealingSettings, Settings, TopicSettings
from tests.factories import forecast_figures, make_detection, make_digest, make_forecast, make_template

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _detection(
    service: str, at: datetime, kind: str = "failure", severity: Severity = Severity.CRITICAL
) -> Detection:
    return make_detection(service, at, kind=kind, severity=severity)


class RecordingExecutor:
    def __init__(self) -> None:
        self.triggers: list[Trigger] = []

    def handle(self, trigger: Trigger) -> list[ActionDecision]:
        self.triggers.append(trigger)
        return [
            ActionDecision(
                trigger_id=trigger.id,
                group_id=trigger.group_id,
                service=trigger.service,
                issue_class="test",
                mode="auto",
                status="succeeded",
                action="noop",
                idempotency_key=f"{trigger.group_id}:noop:0",
                at=trigger.timestamp.timestamp(),
            )
        ]

    def tick(self) -> None:
        return None

    def resolve(self, group_id: str) -> None:
        return None


class CountingReporter:
    def __init__(self) -> None:
        self.calls = 0
        self.offline = OfflineReporter()

    def report(self, incident: Incident) -> IncidentReport:
        self.calls += 1
        body = self.offline.report(incident)
        return IncidentReport(**body.model_dump(), source="offline", generated_at=T0)


def _responder() -> tuple[Responder, RecordingExecutor, CountingReporter, list[tuple[str, str, bytes]]]:
    published: list[tuple[str, str, bytes]] = []
    executor = RecordingExecutor()
    reporter = CountingReporter()
    responder = Responder(
        TopicSettings(),
        executor=executor,
        tracker=IncidentTracker(reporter=reporter),
        publish=lambda topic, key, value: published.append((topic, key, value)),
        clock=lambda: T0 + timedelta(hours=1),
    )
    return responder, executor, reporter, published


@pytest.mark.unit
def test_related_detections_make_one_incident_reported_once_per_worsening() -> None:
    responder, executor, reporter, published = _responder()
    topics = TopicSettings()
    responder.on_detection(_detection("database", T0, severity=Severity.WARNING))
    responder.on_detection(_detection("database", T0 + timedelta(seconds=5), severity=Severity.WARNING))
    responder.on_detection(_detection("auth", T0 + timedelta(seconds=10)))  # depends on database

    incidents = [json.loads(v) for t, _, v in published if t == topics.incidents]
    assert len({i["id"] for i in incidents}) == 1
    assert incidents[-1]["service"] == "database"
    assert incidents[-1]["services"] == ["auth", "database"]
    assert all(i["report"] is not None for i in incidents)
    # new (1), same severity and root (no new report), worse: critical (2)
    assert reporter.calls == 2
    assert [t.incident_id for t in executor.triggers] == [incidents[0]["id"]] * 3
    actions = [json.loads(v) for t, _, v in published if t == topics.actions]
    assert len(actions) == 3 and all(a["status"] == "succeeded" for a in actions)


@pytest.mark.unit
def test_redelivered_detection_is_not_handled_twice() -> None:
    responder, executor, _, _ = _responder()
    detection = _detection("email", T0)
    raw = detection.to_json_bytes()
    responder.on_message(TopicSettings().detections, raw)
    responder.on_message(TopicSettings().detections, raw)
    assert len(executor.triggers) == 1


@pytest.mark.unit
def test_malformed_messages_are_counted_not_raised() -> None:
    responder, executor, _, _ = _responder()
    assert responder.on_message(TopicSettings().detections, b"{not json") == []
    assert responder.on_message(TopicSettings().detections, b'{"kind": "detection"}') == []
    assert responder.rejected == 2 and executor.triggers == []


@pytest.mark.unit
def test_log_evidence_arriving_after_the_detection_updates_the_incident_and_its_report() -> None:
    responder, executor, reporter, published = _responder()
    topics = TopicSettings()
    responder.on_detection(_detection("email", T0 + timedelta(seconds=2)))
    failed = make_template("email", T0, 4)
    raw = make_digest("email", T0, failed).to_json_bytes()
    assert responder.on_message(topics.log_templates, raw) == []  # evidence only: no healing
    responder.on_message(topics.log_templates, raw)  # re-delivered: counted once, not republished
    responder.on_message(
        topics.log_templates, make_digest("sms", T0, make_template("sms", T0, 2)).to_json_bytes()
    )

    first, updated = (Incident.model_validate_json(v) for t, _, v in published if t == topics.incidents)
    assert first.id == updated.id and first.log_templates == []
    assert updated.log_templates == [failed]
    assert reporter.calls == 2 and updated.report is not None  # rewritten: it has log evidence now
    assert any(e.kind == "log_template" and e.ref == "email:7" for e in updated.report.evidence)
    assert len(executor.triggers) == 1


def _exhaustion_warning(at: datetime, probability: float, tte: float) -> Detection:
    base = _detection("database", at, kind="exhaustion_forecast", severity=Severity.CRITICAL)
    figures = forecast_figures(tte, probability)
    return base.model_copy(update={"series": "database/db_pool_usage", "forecast": figures})


@pytest.mark.unit
def test_exhaustion_forecast_detections_heal_as_predictive_forecast_triggers() -> None:
    responder, executor, _, _ = _responder()
    responder.on_detection(_exhaustion_warning(T0, 0.95, 120.0))
    responder.on_detection(_detection("email", T0 + timedelta(minutes=30)))
    forecast, failure = executor.triggers
    assert forecast.source == "forecast" and forecast.predictive
    assert forecast.lead_time_seconds == 120.0 and forecast.breach_probability == 0.95
    assert forecast.kind == "exhaustion_forecast" and forecast.series == "database/db_pool_usage"
    assert failure.source == "detection" and not failure.predictive


@pytest.mark.unit
def test_raw_forecast_messages_never_trigger_healing() -> None:
    """Only the dataflow's checked exhaustion detections may act; a raw forecast is data for the API."""
    responder, executor, _, published = _responder()
    forecast = make_forecast("database", "db_pool_usage", T0, point=3.9, tte=200.0, probability=0.95)
    assert responder.on_message(TopicSettings().forecasts, forecast.to_json_bytes()) == []
    assert executor.triggers == [] and published == []


@pytest.mark.integration
def test_respond_service_heals_the_real_demo_app(kafka_settings: Settings, tmp_path: Path) -> None:
    """Email failure detection on Kafka -> provider failover on the real app -> incident and action topics."""
    from forewarn.incidents.service import serve
    from forewarn.kafka.io import make_producer, read_topic
    from forewarn.musobuddy.config import DEMO_ADMIN_KEY_ID, DEMO_ADMIN_PRIVATE_KEY
    from forewarn.musobuddy.server import running_app

    with running_app() as base_url:
        httpx.post(f"{base_url}/api/faults/email_outage", json={}, timeout=5).raise_for_status()
        assert httpx.get(f"{base_url}/api/health/email", timeout=5).status_code == 503
        settings = kafka_settings.model_copy(
            update={
                "healing": HealingSettings(
                    mode="auto",
                    state_dir=tmp_path / "healing",
                    admin_base_url=base_url,
                    admin_key_id=DEMO_ADMIN_KEY_ID,
                    admin_private_key=DEMO_ADMIN_PRIVATE_KEY,
                )
            }
        )
        stop = threading.Event()
        worker = threading.Thread(target=serve, args=(settings, stop), kwargs={"from_beginning": True})
        worker.start()
        try:
            producer = make_producer(settings)
            detection = _detection("email", datetime.now(UTC))
            for _ in range(2):  # at-least-once delivery: the same detection twice
                producer.send(settings.topics.detections, key="email", value=detection.to_json_bytes())
            producer.flush()
            producer.close()
            bootstrap = settings.kafka.bootstrap_servers
            deadline = time.monotonic() + 60
            actions: list[dict[str, object]] = []
            while time.monotonic() < deadline:
                actions = [
                    json.loads(r.value) for r in read_topic(bootstrap, settings.topics.actions, timeout=2)
                ]
                if any(a.get("status") in {"succeeded", "failed", "not_validated"} for a in actions):
                    break
                time.sleep(0.5)
            incidents = [
                json.loads(r.value) for r in read_topic(bootstrap, settings.topics.incidents, timeout=5)
            ]
        finally:
            stop.set()
            worker.join(timeout=30)
        assert not worker.is_alive()
        acted = [a for a in actions if a.get("action") == "provider-failover"]
        assert acted, actions
        assert len({a["idempotency_key"] for a in acted if a.get("status") == "succeeded"}) == 1
        # The failover really happened on the service: email is served by the standby provider.
        email = httpx.get(f"{base_url}/api/health/email", timeout=5).json()
        assert email["details"]["provider_role"] == "secondary"
        assert incidents and incidents[-1]["service"] == "email"
        assert incidents[-1]["report"]["source"] == "offline"
        assert incidents[-1]["report"]["cause_service"] == "email"
