"""Settings precedence: arguments > environment > config file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from forewarn.settings import Settings, load_settings

pytestmark = pytest.mark.unit


def test_defaults_are_sane() -> None:
    settings = Settings()
    assert settings.probe.interval_seconds == 120.0
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert [t.service for t in settings.probe.resolved_targets()] == [
        "auth",
        "database",
        "email",
        "sms",
        "payments",
        "overall",
    ]


def test_file_then_env_then_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "forewarn.yaml"
    config.write_text(
        "probe:\n  interval_seconds: 30\n  timeout_seconds: 2\nkafka:\n  client_id: from-file\n"
    )
    monkeypatch.setenv("FOREWARN_PROBE__TIMEOUT_SECONDS", "3")
    settings = load_settings(config)
    assert settings.probe.interval_seconds == 30
    assert settings.probe.timeout_seconds == 3  # env beats the file
    assert settings.kafka.client_id == "from-file"
    assert load_settings(config, log_level="DEBUG").log_level == "DEBUG"


def test_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "forewarn.toml"
    config.write_text('[kafka]\nbootstrap_servers = "127.0.0.1:19092"\n')
    assert load_settings(config).kafka.bootstrap_servers == "127.0.0.1:19092"


def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_PROBE__INTERVAL_SECONDS", "0.1")
    with pytest.raises(ValueError, match="interval_seconds"):
        Settings()


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such config file"):
        load_settings(tmp_path / "absent.yaml")
