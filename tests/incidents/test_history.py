"""The labelled history: demo-service faults become incidents the offline reporter explains."""

from __future__ import annotations

import pytest

from forewarn.dev.incident_history import SCENARIOS, run_scenario
from forewarn.incidents.offline import OfflineReporter
from forewarn.incidents.reporter import IncidentReporter

pytestmark = [pytest.mark.unit, pytest.mark.slow]


@pytest.mark.parametrize("scenario", ["db_outage", "memory_leak", "sms_outage", "cascade"])
def test_fault_becomes_one_labelled_incident_with_the_right_offline_report(scenario: str) -> None:
    labelled = run_scenario(scenario, seed=7)
    assert labelled is not None
    incident = labelled.incident
    assert incident.service == SCENARIOS[scenario].service
    assert len(incident.detections) >= 3
    # The fault's own announcement never reaches the evidence: only what a real service would log.
    assert all("fault injected" not in t.template for t in incident.log_templates)
    report = OfflineReporter().report(incident)
    assert (report.cause_service, report.cause_category) == (labelled.label.service, labelled.label.cause)


def test_incident_with_report_round_trips_as_json() -> None:
    labelled = run_scenario("email_outage", seed=3)
    assert labelled is not None
    incident = labelled.incident
    report = IncidentReporter().report(incident)
    stored = incident.model_copy(update={"report": report})
    again = type(incident).model_validate_json(stored.to_json_bytes())
    assert again == stored and again.report is not None and again.report.source == "offline"
