"""IncidentTracker: the two calls the responder makes, and when reports are rewritten."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry

from forewarn.events import Detection, Incident, LogRecord, LogTemplateDigest, Severity
from forewarn.incidents.reporter import IncidentReporter
from forewarn.incidents.tracker import IncidentTracker
from forewarn.pipeline.forecast_steps import LogPatternLogic
from forewarn.pipeline.log_patterns import default_miner
from forewarn.pipeline.metrics import PipelineMetrics

from .conftest import T0, detection

pytestmark = pytest.mark.unit


class CountingReporter(IncidentReporter):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def report(self, incident):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().report(incident)


def test_reports_are_written_on_open_severity_rise_and_root_change_only() -> None:
    reporter = CountingReporter()
    tracker = IncidentTracker(reporter=reporter)
    first = tracker.observe_detection(detection("auth", 0, "auth/failure", severity=Severity.WARNING))
    assert first is not None and first.report is not None and reporter.calls == 1
    same = tracker.observe_detection(detection("auth", 5, "auth/latency", kind="latency_anomaly",
                                               severity=Severity.WARNING))  # fmt: skip
    assert same is not None and same.report == first.report and reporter.calls == 1
    worse = tracker.observe_detection(detection("auth", 9, "auth/failure", severity=Severity.CRITICAL))
    assert worse is not None and reporter.calls == 2
    root = tracker.observe_detection(detection("database", 10, "database/failure"))
    assert root is not None and root.service == "database" and reporter.calls == 3
    assert root.report is not None and root.report.cause_service == "database"
    (resolved,) = tracker.expire(T0 + timedelta(hours=1))
    assert resolved.status == "resolved" and resolved.report == root.report


def test_logs_flow_into_detections_and_incident_templates() -> None:
    """The dataflow's log-pattern logic mines the lines; its detections and digests reach the tracker."""
    tracker = IncidentTracker()
    wall = T0 + timedelta(days=1)
    logic = LogPatternLogic(default_miner, lambda: wall, PipelineMetrics(CollectorRegistry()), None)
    incidents: list[Incident] = []

    def deliver(outputs: list[Detection | LogTemplateDigest]) -> None:
        for out in outputs:
            if isinstance(out, LogTemplateDigest):
                incidents.extend(tracker.observe_templates(out))
            else:
                found = tracker.observe_detection(out)
                incidents.extend([found] if found is not None else [])

    for i in range(300):
        record = LogRecord(
            service="sms", timestamp=T0 + timedelta(seconds=i), message=f"sms sent in {i % 9} ms"
        )
        deliver(logic.on_item([record])[0])
    for i in range(10):
        record = LogRecord(
            service="sms",
            timestamp=T0 + timedelta(seconds=300 + i),
            level="ERROR",
            message="SMS delivery failed via twilio: HTTP 503 Service Unavailable",
        )
        deliver(logic.on_item([record])[0])
    deliver(logic.on_eof()[0])
    last = incidents[-1]
    assert last.service == "sms"
    failed = last.log_templates[0]
    assert "SMS delivery failed" in failed.template
    assert failed.count == 10 and failed.levels == {"ERROR": 10}
    assert (failed.first_seen, failed.last_seen) == (T0 + timedelta(seconds=300), T0 + timedelta(seconds=309))
    assert last.report is not None and last.report.cause_category == "provider_outage"
    assert any(e.kind == "log_template" and e.ref == failed.template_id for e in last.report.evidence)
