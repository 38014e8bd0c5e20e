"""The shipped alert rules on forewarn's own metrics: valid, each unit-tested firing, each with a runbook.

``promtool check rules`` validates the file and ``promtool test rules`` runs
``dashboards/forewarn-rules.test.yml``, where every alert fires on a series shaped like its trouble
(and stays quiet before). The checks here make sure no alert is added without such a test or
without a ``runbook_url`` that lands on a section of ``docs/runbooks.md``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from forewarn.dev.prometheus_server import PROMTOOL, PrometheusUnavailable, ensure_installed

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "dashboards" / "forewarn-rules.yml"
RULE_TESTS = ROOT / "dashboards" / "forewarn-rules.test.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


@pytest.fixture(scope="module")
def promtool() -> Path:
    try:
        return ensure_installed().parent / PROMTOOL
    except PrometheusUnavailable as error:
        pytest.fail(f"promtool (Debian's prometheus package) is required: {error}")


@pytest.mark.unit
def test_the_rules_cover_forecasts_heartbeats_and_lag_each_with_a_runbook() -> None:
    alerts = _alerts()
    exprs = " ".join(rule["expr"] for rule in alerts)
    for metric in (
        "forewarn_forecast_breach_probability",
        "forewarn_pipeline_heartbeat_timestamp_seconds",
        "forewarn_heartbeat_timestamp_seconds",
        "forewarn_pipeline_event_lag_seconds_bucket",
    ):
        assert metric in exprs
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## ")
    }
    for rule in alerts:
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/runbooks.md" and anchor in anchors, (rule["alert"], url)


@pytest.mark.unit
def test_every_alert_has_a_unit_test_where_it_fires() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert fired == {rule["alert"] for rule in _alerts()}


@pytest.mark.integration
def test_promtool_checks_the_rules_and_runs_their_unit_tests(promtool: Path) -> None:
    checked = subprocess.run(
        [str(promtool), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in checked.stdout
    tested = subprocess.run(
        [str(promtool), "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
