"""Log evidence end to end: the demo app's email outage writes error lines; the incident cites them.

Real parts in one process: the MusoBuddy app (its HTTP API through a TestClient, on a hand-driven
clock), the log shipper's parsing, the probe grading, the production dataflow (``build_flow`` with
test sources and sinks) and the responder with the offline reporter. Only the healing executor is a
stand-in (healing is not the subject here). The outage is healed after 4 s, as in the demo: too few
error lines for any log detection, so the templates can only reach the incident as digests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from bytewax.testing import TestingSink, TestingSource
from fastapi.testclient import TestClient

from forewarn.collect.probe import read_health
from forewarn.collect.shipper import LogShipper
from forewarn.events import Incident, ProbeResult
from forewarn.healing.records import ActionDecision
from forewarn.healing.triggers import Trigger
from forewarn.incidents.responder import Responder
from forewarn.incidents.tracker import IncidentTracker
from forewarn.ingest import RawMessage
from forewarn.musobuddy.app import create_app
from forewarn.pipeline.dataflow import FlowSinks, build_flow
from forewarn.pipeline.messages import OutMessage
from forewarn.settings import Settings
from tests.demo_app.conftest import ManualClock, fast_config, muso
from tests.pipeline.conftest import run_one_worker

pytestmark = pytest.mark.unit

CALM_SECONDS, OUTAGE_SECONDS, AFTER_SECONDS = 20, 4, 10


class ListPublisher:
    """The shipper's publisher: the dataflow's input messages, in order."""

    def __init__(self) -> None:
        self.messages: list[RawMessage] = []

    def publish(self, topic: str, key: str, value: bytes) -> None:
        self.messages.append(RawMessage(value, topic, key.encode(), 0, len(self.messages)))

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        return None


class NoHealing:
    def handle(self, trigger: Trigger) -> list[ActionDecision]:
        return []

    def tick(self) -> None:
        return None

    def resolve(self, group_id: str) -> None:
        return None


def _at(wall: ManualClock) -> datetime:
    return datetime.fromtimestamp(wall(), UTC)


def _run_demo_app(publisher: ListPublisher, topics: Any) -> tuple[list[dict[str, Any]], datetime]:
    """Probe the email endpoint once a second and ship the app's log; returns its lines and the end."""
    clock, wall = ManualClock(), ManualClock(1_800_000_000.0)
    app = create_app(fast_config(), clock, wall_clock=wall)
    shipper = LogShipper(
        publisher,
        "musobuddy",
        topics.logs,
        service_field="service",
        group_multiline=False,
        now=lambda: _at(wall),
    )
    log = muso(app).log
    shipped = 0
    with TestClient(app) as client:
        for second in range(CALM_SECONDS + OUTAGE_SECONDS + AFTER_SECONDS):
            if second == CALM_SECONDS:
                client.post("/api/faults/email_outage").raise_for_status()
            if second == CALM_SECONDS + OUTAGE_SECONDS:  # healed, as the responder's failover does
                client.delete("/api/faults", params={"reset_state": "true"}).raise_for_status()
            answer = client.get("/api/health/email")
            reading = read_health(answer.status_code, answer.content)
            probe = ProbeResult(
                service="email",
                timestamp=_at(wall),
                endpoint="/api/health/email",
                latency_ms=5.0,
                status_code=answer.status_code,
                ok=reading.ok,
                status=reading.status,
                error=reading.error,
                details=reading.details,
            )
            publisher.publish(topics.probes, probe.key(), probe.to_json_bytes())
            lines = list(log.recent)
            for line in lines[shipped:]:
                shipper.ship_line(json.dumps(line, default=str))
            shipped = len(lines)
            clock.advance(1)
            wall.advance(1)
        return list(log.recent), _at(wall)


def test_the_email_outage_incident_cites_its_error_log_templates() -> None:
    settings = Settings()
    topics = settings.topics
    publisher = ListPublisher()
    lines, end = _run_demo_app(publisher, topics)
    errors = [line for line in lines if line["level"] == "ERROR" and line["service"] == "email"]
    assert len(errors) == OUTAGE_SECONDS  # one per failed probe: below every log detector's minimum

    detections: list[OutMessage] = []
    digests: list[OutMessage] = []
    letters: list[OutMessage] = []
    sinks = FlowSinks(TestingSink(detections), TestingSink(letters), log_templates=TestingSink(digests))
    run_one_worker(build_flow(settings, TestingSource(publisher.messages), sinks, clock=lambda: end))
    assert letters == [] and detections and digests

    published: list[Incident] = []
    responder = Responder(
        topics,
        executor=NoHealing(),
        tracker=IncidentTracker(),
        publish=lambda topic, key, value: published.append(Incident.model_validate_json(value)),
        clock=lambda: end,
    )
    for topic, messages in ((topics.detections, detections), (topics.log_templates, digests)):
        for message in messages:
            responder.on_message(topic, message.value or b"")

    email = [i for i in published if i.service == "email"]
    assert email and not email[0].log_templates  # opened by the probe detections, before the digests
    incident = email[-1]
    (failed,) = [t for t in incident.log_templates if t.service == "email" and t.levels.get("ERROR")]
    assert failed.template.startswith("email delivery failed via")
    assert failed.count == len(errors) and failed.levels == {"ERROR": len(errors)}
    stamps = [datetime.fromisoformat(line["timestamp"]) for line in errors]
    assert (failed.first_seen, failed.last_seen) == (min(stamps), max(stamps))

    report = incident.report
    assert report is not None and report.source == "offline" and report.cause_category == "provider_outage"
    (cited,) = [e for e in report.evidence if e.kind == "log_template"]
    assert cited.ref == failed.template_id
    assert cited.detail.startswith(f"{len(errors)}x ERROR ") and "email delivery failed via" in cited.detail
