"""The chaos scorecard: its rules on hand-made runs, and a short subset on the real stack.

The subset is one pool leak (4 connections/s, a breach ~11 s in without help) on a real broker, app,
dataflow, responder and Prometheus, with healing on and off: the JSON has the contract's keys, the
leak was detected, the healing-off run breached and the healing-on one did not, and the
``predict_linear`` baseline was evaluated by Prometheus itself. The full suite runs from
``forewarn chaos`` (bench/README.md has its figures).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from forewarn.dev.chaos import baselines, measure, scorecard
from forewarn.dev.chaos.catalogue import BY_NAME, SCENARIOS, Scenario, _fault, select
from forewarn.dev.chaos.measure import Run
from forewarn.dev.chaos.runner import ChaosRunner
from forewarn.dev.chaos.suite import draw, rows, targets
from forewarn.dev.demo.scoring import DemoReport
from forewarn.musobuddy.faults import FAULTS
from forewarn.settings import load_settings

METRIC_KEYS = {
    "name",
    "detection_delay_seconds",
    "lead_time_seconds",
    "prevented",
    "auto_resolved",
    "mttr_seconds",
    "false_alarms",
    "downtime_seconds",
    "report_cause_correct",
}
T0 = 1_000_000.0


def _run(scenario: Scenario, statuses: dict[str, list[str]], detections: tuple[str, ...] = ()) -> Run:
    """A run whose probes say ``statuses[service][i]`` at T0 + i seconds."""
    probes: list[dict[str, Any]] = [
        {"service": service, "status": status, "seen_at": T0 + i}
        for service, seq in statuses.items()
        for i, status in enumerate(seq)
    ]
    probes.sort(key=lambda p: p["seen_at"])
    report = DemoReport(started_at="", duration_seconds=30)
    report.detections = [{"service": s, "detection_kind": "failure"} for s in detections]
    return Run(scenario, "off", 0, T0, T0 + 30, report, probes)


@pytest.mark.unit
def test_catalogue_covers_the_issue_and_names_are_unique() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    faults = {f.step.fault for s in SCENARIOS for f in s.faults}
    assert faults == set(FAULTS)  # every fault the app can inject has a scenario
    assert any(len(s.faults) == 2 for s in SCENARIOS) and any(s.control for s in SCENARIOS)
    assert any(f.step.params.get("flap_seconds") for s in SCENARIOS for f in s.faults)
    assert {f.escalate for s in SCENARIOS for f in s.faults} == {True, False}
    with pytest.raises(KeyError, match="nosuch"):
        select(["nosuch"])


@pytest.mark.unit
def test_breach_and_downtime_follow_the_faulted_service_only() -> None:
    run = _run(BY_NAME["email_outage"], {"email": ["ok", "ok", "down", "down", "ok"], "sms": ["down"] * 5})
    assert measure.breach_after(run) == 2.0
    assert measure.downtime_seconds(run) == 2.0  # sms being down is not this scenario's downtime
    assert measure.downtime_seconds(run, within=2.5) == 1.0  # compared over a shorter twin run's span
    assert measure.false_alarms(_run(BY_NAME["email_outage"], {}, ("email", "sms", "overall"))) == 1


@pytest.mark.unit
def test_static_rule_waits_for_its_for_duration_and_resets_on_a_gap() -> None:
    flapping = ["down"] * 6 + ["ok"] + ["down"] * 12
    run = _run(BY_NAME["email_outage"], {"email": flapping})
    (alert,) = baselines.static_alerts(run, for_seconds=10)
    assert alert.service == "email" and alert.after == 17.0  # the gap at 6 s restarted the clock at 7 s
    assert baselines.static_alerts(_run(BY_NAME["email_outage"], {"email": ["down"] * 9}), 10) == []


@pytest.mark.unit
def test_p95_counts_a_miss_as_never() -> None:
    assert scorecard._p95([1.0, 2.0, 3.0]) == 3.0
    assert scorecard._p95([1.0] * 30 + [None]) == 1.0  # one miss in 31 is under the 5 % tail
    assert scorecard._p95([1.0, None]) is None


def _subset_scenario() -> Scenario:
    leak = _fault(
        "db_pool_leak",
        ("database", "auth", "payments"),
        "pool leak for the test subset",
        "connection_pool_exhaustion",
        ("recover-db-connections", "restart-service"),
        "database/db_pool_usage",
        rate=4.0,
    )
    return Scenario("test_pool_leak", "pool leak at 4 connections/s", (leak,), 35)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_subset_on_the_real_stack(tmp_path: Path) -> None:
    runner = ChaosRunner(
        load_settings(), (_subset_scenario(),), workdir=tmp_path / "work", warm_up_seconds=10
    )
    sessions = runner.run()
    card = json.loads(json.dumps(scorecard.build(sessions, {"database": 20.0}), default=str))
    assert set(card) >= {"scenarios", "baselines", "summary"}
    (line,) = card["scenarios"]
    assert set(line) >= METRIC_KEYS, line
    assert line["errors"] == []
    assert line["detection_delay_seconds"] is not None
    assert line["ground_truth"]["breach_after_seconds_without_healing"] is not None  # off: it broke
    assert line["prevented"] is True  # on: it did not
    assert line["auto_resolved"] is True and line["healing_succeeded"] >= 1
    assert line["downtime_without_healing_seconds"] > line["downtime_seconds"]
    for name in ("static", "predict_linear", "detect_only"):
        (base,) = card["baselines"][name]["scenarios"]
        assert set(base) >= METRIC_KEYS, (name, base)
    assert card["baselines"]["predict_linear"]["evaluated_by"] == "prometheus"
    assert card["baselines"]["predict_linear"]["scenarios"][0]["detection_delay_seconds"] is not None
    assert set(card["summary"]["targets"]) == {
        "detection_under_120s",
        "resolution_under_600s",
        "healing_success_over_90pct",
        "automated_resolution_over_95pct",
        "false_positives_under_5pct",
        "uptime_over_99_9pct",
    }
    assert all({"measured", "target", "met"} <= set(t) for t in card["summary"]["targets"].values())
    assert rows(card) and targets(card)
    (plot,) = draw(sessions, tmp_path / "plots")
    assert plot.stat().st_size > 10_000
