"""Every PromQL expression of the Grafana dashboard, evaluated by a REAL Prometheus scraping a live target.

Also: the committed dashboard JSON is what ``dashboards/build_dashboard.py`` generates, and the
burn-rate alert rules pass ``promtool check rules`` and evaluate healthily in the same Prometheus.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from forewarn.dev.prometheus_server import PROMTOOL, PrometheusServer, PrometheusUnavailable, ensure_installed
from tests.api.metrics_target import MetricsTarget

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboards" / "forewarn.json"
ALERTS = ROOT / "dashboards" / "alerts.yml"


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_dashboard", ROOT / "dashboards" / "build_dashboard.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def _exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    return found


def _grafana_to_promql(expr: str) -> str:
    """Substitute Grafana's variables as Grafana does for 'All' and a 1 s scrape interval."""
    expr = expr.replace("$__rate_interval", "30s").replace("${service}", ".*")
    return re.sub(r"\$service\b", ".*", expr)


@pytest.mark.unit
def test_committed_dashboard_is_generated() -> None:
    assert DASHBOARD.read_text() == _builder().render(), "run: python dashboards/build_dashboard.py"
    dashboard = json.loads(DASHBOARD.read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Services overview", "Forecasts", "Incidents", "Healing", "Engine health"]
    assert len(_exprs(dashboard)) >= 30


@pytest.fixture(scope="module")
def prometheus_binary() -> Path:
    try:
        return ensure_installed()
    except PrometheusUnavailable as error:
        pytest.fail(f"a real Prometheus is required: {error}")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricsTarget]:
    live = MetricsTarget(tmp_path_factory.mktemp("target"))
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def prometheus(
    prometheus_binary: Path, target: MetricsTarget, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    server = PrometheusServer(
        prometheus_binary, tmp_path_factory.mktemp("prometheus"), [target.address], rule_files=[ALERTS]
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _wait_for_scrapes(prometheus: PrometheusServer, samples: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = prometheus.query('count_over_time(up{job="forewarn"}[1m])')
        result = answer.get("data", {}).get("result", [])
        if result and float(result[0]["value"][1]) >= samples:
            up = prometheus.query('up{job="forewarn"}')["data"]["result"]
            assert up and up[0]["value"][1] == "1", f"target down: {prometheus.get('/api/v1/targets')}"
            return
        time.sleep(0.5)
    pytest.fail(f"prometheus did not scrape {samples} times; targets: {prometheus.get('/api/v1/targets')}")


@pytest.mark.integration
@pytest.mark.slow
def test_promtool_accepts_the_alert_rules(prometheus_binary: Path) -> None:
    promtool = prometheus_binary.parent / PROMTOOL
    done = subprocess.run(
        [str(promtool), "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 9 rules found" in done.stdout


@pytest.mark.integration
@pytest.mark.slow
def test_every_dashboard_expression_parses_and_returns_data(
    prometheus: PrometheusServer, target: MetricsTarget
) -> None:
    _wait_for_scrapes(prometheus, samples=8)
    dashboard = json.loads(DASHBOARD.read_text())
    problems = []
    for title, expr in _exprs(dashboard):
        answer = prometheus.query(_grafana_to_promql(expr))
        if answer.get("status") != "success":
            problems.append(f"{title}: {expr}\n    -> {answer.get('errorType')}: {answer.get('error')}")
        elif not answer["data"]["result"]:
            problems.append(f"{title}: {expr}\n    -> no data")
    assert not problems, "dashboard expressions failing in Prometheus:\n" + "\n".join(problems)
    assert target.rounds > 20
    # The template variable's query: label_values(forewarn_probe_up, service).
    services = {r["metric"]["service"] for r in prometheus.query("forewarn_probe_up")["data"]["result"]}
    assert services == {"auth", "database", "payments"}


@pytest.mark.integration
@pytest.mark.slow
def test_alert_rules_evaluate_in_prometheus(prometheus: PrometheusServer) -> None:
    _wait_for_scrapes(prometheus, samples=8)
    deadline = time.monotonic() + 30
    while True:
        groups = prometheus.get("/api/v1/rules")["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        if len(rules) == 9 and all(rule.get("lastEvaluation", "").startswith("20") for rule in rules):
            break
        assert time.monotonic() < deadline, f"rules not evaluated: {rules}"
        time.sleep(0.5)
    assert {rule["health"] for rule in rules} == {"ok"}, [(r["name"], r.get("lastError")) for r in rules]
    # One failed probe in five is a 20% error ratio: far above 14.4 x 0.1%, so the fast-burn page fires.
    ratio = prometheus.query("service:forewarn_probe_errors:ratio_rate5m")["data"]["result"]
    assert ratio and all(0.0 <= float(r["value"][1]) <= 1.0 for r in ratio)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alerts = prometheus.get("/api/v1/alerts")["data"]["alerts"]
        if any(a["labels"]["alertname"] == "ForewarnErrorBudgetBurnFast" for a in alerts):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"fast burn alert not firing; ratios: {ratio}")
