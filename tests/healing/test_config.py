"""The healing config validates on load, and every error names the file and the line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.events import Severity
from forewarn.healing.actions.registry import default_registry
from forewarn.healing.classify import classify
from forewarn.healing.config import load_config, strictest
from forewarn.healing.errors import ConfigError
from forewarn.healing.planner import _matches
from forewarn.healing.triggers import Trigger
from tests.factories import make_detection

pytestmark = pytest.mark.unit

GOOD = """\
version: 1
services:
  database: {cost_per_minute: 40}
  auth: {cost_per_minute: 60}
policies:
  - name: p1
    trigger: {issue_class: db_pool_exhaustion}
    actions:
      - action: reset-connections
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "healing.yaml"
    path.write_text(text)
    return path


def test_shipped_config_is_valid_and_covers_the_demo_faults() -> None:
    config = load_config()
    classes = {p.trigger.issue_class for p in config.policies}
    for needed in (
        "memory_leak",
        "db_pool_exhaustion",
        "email_provider_outage",
        "sms_provider_outage",
        "auth_overload",
        "disk_filling",
        "bad_deploy",
        "db_outage",
    ):
        assert needed in classes
    registry = default_registry()
    for policy in config.policies:
        for step in policy.actions:
            for name in step.candidates():
                assert name in registry


def test_good_file_loads(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    assert config.policies[0].actions[0].action == "reset-connections"


def test_unknown_action_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("reset-connections", "reset-everything"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}:9:" in str(err.value)
    assert "unknown action 'reset-everything'" in str(err.value)


def test_bad_params_are_caught_at_load(tmp_path: Path) -> None:
    text = (
        GOOD
        + "  - name: p2\n    trigger: {}\n    actions:\n"
        + "      - action: failover\n        params: {channel: fax}\n"
    )
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert f"{path}:13:" in message and "bad params for failover" in message and "channel" in message
    assert "errors.pydantic.dev" not in message


def test_out_of_range_value_points_at_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("{issue_class: db_pool_exhaustion}", "\n      min_confidence: 1.5"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}:8:" in str(err.value) and "min_confidence" in str(err.value)


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("version: 1", "version: 1\nmdoe: auto"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}:2:" in str(err.value) and "mdoe" in str(err.value)


def test_depends_on_in_the_healing_yaml_points_to_the_one_map(tmp_path: Path) -> None:
    moved = GOOD.replace("auth: {cost_per_minute: 60}", "auth: {depends_on: [database]}")
    with pytest.raises(ConfigError, match="dependencies") as err:
        load_config(_write(tmp_path, moved))
    assert ":4:" in str(err.value)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD + "  - name: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "invalid YAML" in str(err.value) and str(path) in str(err.value)


def test_escalation_must_name_a_defined_channel(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD + "    escalation: [{notify: [slack]}]\n")
    with pytest.raises(ConfigError, match="unknown channel 'slack'"):
        load_config(path)


def test_cli_check_config(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["heal", "check-config"])
    assert ok.exit_code == 0 and ok.output.startswith("OK:")
    bad = runner.invoke(app, ["heal", "check-config", str(_write(tmp_path, GOOD.replace("p1", "bad name")))])
    assert bad.exit_code == 1
    assert "healing.yaml:6" in bad.output


def test_strictest_mode_wins() -> None:
    assert strictest("auto", "dry-run") == "dry-run"
    assert strictest("approve", "auto") == "approve"
    assert strictest("off", "auto", "shadow") == "off"


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_the_shipped_failover_waits_for_a_confident_trigger(channel: str) -> None:
    """A demo run under CPU load saw latency warnings at confidence 0.29 on email, sms and overall at
    once, and failed SMS over to its secondary provider. A failing check (confidence 1.0) still does."""
    config = load_config()

    def policies(kind: str, confidence: float) -> list[str]:
        at = datetime(2026, 12, 6, 7, 4, 56, tzinfo=UTC)
        detection = make_detection(channel, at, kind=kind, severity=Severity.WARNING, confidence=confidence)
        trigger = Trigger.from_detection(detection)
        issue_class = classify(trigger, config.signatures)
        return [p.name for p in config.policies if _matches(p, trigger, issue_class)]

    assert policies("latency_anomaly", 0.29) == []
    assert policies("failure", 1.0) == [f"{channel}-provider-failover"]
