"""Alertmanager webhooks: firing alerts become detections and incidents, resolved ones close them.

``test_alertmanager_incident.py`` runs the same through Kafka and the real responder; here the
mapping, the grouper's closing rule and the HTTP door are pinned down one by one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from forewarn.collect.alerts import AlertmanagerWebhook, detections_from_webhook
from forewarn.collect.receiver import create_receiver
from forewarn.events import ALERT_FIRING, ALERT_RESOLVED, Detection, Incident, Severity
from forewarn.incidents.grouping import IncidentGrouper
from forewarn.settings import ReceiverSettings, Settings

from .running import ListPublisher, serving

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def alert(status: str, name: str = "HighLatency", fingerprint: str = "a1", **labels: str) -> dict[str, Any]:
    ends = "0001-01-01T00:00:00Z" if status == "firing" else (T0 + timedelta(minutes=3)).isoformat()
    return {
        "status": status,
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} on checkout"},
        "startsAt": T0.isoformat(),
        "endsAt": ends,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": fingerprint,
    }


def webhook(*alerts: dict[str, Any]) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighLatency"}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "forewarn",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def detections(body: dict[str, Any]) -> list[Detection]:
    converted = detections_from_webhook(
        AlertmanagerWebhook.model_validate(body),
        service_labels=["service", "job"],
        default_service="unlabelled",
        now=lambda: T0 + timedelta(minutes=5),
    )
    return [e for e in converted.events if isinstance(e, Detection)]


def test_a_firing_alert_is_a_detection_on_its_own_series_with_its_severity() -> None:
    [fired] = detections(webhook(alert("firing", severity="page", job="checkout")))
    assert fired.detection_kind == ALERT_FIRING and fired.detector == "alertmanager"
    assert (fired.service, fired.series) == ("checkout", "checkout/alert/HighLatency/a1")
    assert fired.severity is Severity.CRITICAL and fired.timestamp == T0
    assert fired.reason == "alert HighLatency: HighLatency on checkout"
    # Alertmanager repeats a firing alert every repeat_interval: the same detection id each time.
    assert detections(webhook(alert("firing", severity="page", job="checkout")))[0].id == fired.id


def test_severity_labels_map_and_default_to_warning() -> None:
    got = [
        d.severity
        for d in detections(
            webhook(
                alert("firing", fingerprint="1", severity="warning"),
                alert("firing", fingerprint="2", severity="info"),
                alert("firing", fingerprint="3", severity="whatever"),
                alert("firing", fingerprint="4"),
            )
        )
    ]
    assert got == [Severity.WARNING, Severity.INFO, Severity.WARNING, Severity.WARNING]


def test_a_resolved_alert_is_an_alert_resolved_detection_at_its_end_time() -> None:
    [ended] = detections(webhook(alert("resolved", service="checkout")))
    assert ended.detection_kind == ALERT_RESOLVED and ended.series == "checkout/alert/HighLatency/a1"
    assert ended.timestamp == T0 + timedelta(minutes=3) and ended.severity is Severity.INFO


def test_an_incident_of_outside_alerts_closes_when_all_of_them_resolved() -> None:
    grouper = IncidentGrouper(dependencies={})
    a, b = detections(
        webhook(alert("firing", job="checkout"), alert("firing", "Errors", "b2", job="checkout"))
    )
    incident = grouper.add(a)
    assert incident is not None and grouper.add(b) is not None
    [end_a] = detections(webhook(alert("resolved", job="checkout")))
    assert grouper.end_series(end_a.series, end_a.timestamp) == []  # b still firing
    [end_b] = detections(webhook(alert("resolved", "Errors", "b2", job="checkout")))
    [closed] = grouper.end_series(end_b.series, end_b.timestamp)
    assert (closed.id, closed.status, closed.resolved_at) == (incident.id, "resolved", end_b.timestamp)
    assert grouper.open_incidents == []
    assert grouper.end_series(end_b.series, end_b.timestamp) == []  # a repeat of the resolution: nothing


def test_an_incident_with_forewarn_s_own_detections_waits_for_them_to_go_quiet() -> None:
    grouper = IncidentGrouper(dependencies={})
    [fired] = detections(webhook(alert("firing", job="checkout")))
    grouper.add(fired)
    own = fired.model_copy(
        update={
            "id": "own",
            "series": "checkout/latency_ms",
            "detector": "likelihood",
            "detection_kind": "latency",
        }
    )
    grouper.add(own)
    [ended] = detections(webhook(alert("resolved", job="checkout")))
    assert grouper.end_series(ended.series, ended.timestamp) == []
    assert len(grouper.open_incidents) == 1


def test_an_alert_that_fires_again_reopens_its_series() -> None:
    grouper = IncidentGrouper(dependencies={})
    a, b = detections(webhook(alert("firing", job="x"), alert("firing", "Errors", "b2", job="x")))
    grouper.add(a)
    grouper.add(b)
    grouper.end_series(a.series, T0 + timedelta(minutes=1))
    again = a.model_copy(update={"id": "refired", "timestamp": T0 + timedelta(minutes=2)})
    grouper.add(again)
    assert grouper.end_series(b.series, T0 + timedelta(minutes=3)) == []  # a fires again: still open


def test_the_webhook_door_publishes_detections_and_refuses_other_shapes() -> None:
    settings = Settings(receiver=ReceiverSettings(keys=[SecretStr("k")]))
    publisher = ListPublisher()
    headers = {"Authorization": "Bearer k"}
    with serving(create_receiver(settings, publisher)) as url:
        response = httpx.post(
            f"{url}/alertmanager/webhook", json=webhook(alert("firing", job="db")), headers=headers
        )
        assert response.status_code == 200 and response.json() == {"detections": 1, "dropped": 0}
        wrong = httpx.post(f"{url}/alertmanager/webhook", json={**webhook(), "version": "3"}, headers=headers)
        broken = httpx.post(f"{url}/alertmanager/webhook", content=b"{", headers=headers)
    [(topic, key, value)] = publisher.sent
    assert (topic, key, json.loads(value)["series"]) == (
        settings.topics.detections,
        "db",
        "db/alert/HighLatency/a1",
    )
    assert wrong.status_code == 422 and "version" in wrong.json()["detail"]
    assert broken.status_code == 422 and "Alertmanager webhook" in broken.json()["detail"]


def test_the_responder_heals_on_a_firing_alert_and_publishes_the_closed_incident_on_its_resolution() -> None:
    from tests.test_responder import _responder

    responder, executor, _, published = _responder()
    [fired] = detections(webhook(alert("firing", job="checkout")))
    responder.on_detection(fired)
    [ended] = detections(webhook(alert("resolved", job="checkout")))
    assert responder.on_detection(ended) == []
    assert [t.kind for t in executor.triggers] == ["alert"]  # healing is asked for the firing one only
    incidents = [Incident.model_validate_json(v) for topic, _, v in published if topic.endswith("incidents")]
    assert [i.status for i in incidents] == ["open", "resolved"]
    assert incidents[0].id == incidents[1].id and incidents[1].report is not None
