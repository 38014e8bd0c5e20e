"""Settings precedence (arguments > environment > config file > defaults) and what a bad file says."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from forewarn.config_file import ConfigFileError
from forewarn.settings import (
    REVEAL_SECRETS,
    ApiSettings,
    HealingSettings,
    LLMSettings,
    Settings,
    load_settings,
    settings_problems,
)

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


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigFileError) as err:
        load_settings(path)
    assert str(err.value) == "\n".join(err.value.problems)
    return err.value.problems


def test_unknown_keys_name_the_key_the_file_and_the_line(tmp_path: Path) -> None:
    config = tmp_path / "forewarn.yaml"
    config.write_text("probe:\n  interval_secs: 30\nkafak:\n  client_id: x\n")
    assert _problems(config) == [
        f"{config}:2: unknown key 'probe.interval_secs'",
        f"{config}:3: unknown key 'kafak'",
    ]


def test_an_invalid_enum_names_the_key_the_value_and_the_allowed_ones(tmp_path: Path) -> None:
    config = tmp_path / "forewarn.yaml"
    config.write_text("kafka:\n  client_id: x\nhealing:\n  mode: autoo\n")
    (problem,) = _problems(config)
    assert problem == (
        f"{config}:4: healing.mode: 'autoo' is not allowed "
        "(allowed: 'off', 'dry-run', 'shadow', 'approve' or 'auto')"
    )


def test_malformed_yaml_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "forewarn.yaml"
    config.write_text("kafka:\n  bootstrap_servers: [x\n  client_id: y\n")
    (problem,) = _problems(config)
    assert problem.startswith(f"{config}:3: invalid YAML (") and "\n" not in problem


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "forewarn.toml"
    config.write_text("[kafka\n")
    (problem,) = _problems(config)
    assert problem.startswith(f"{config}: invalid TOML (") and "line 1" in problem


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "forewarn.yml"
    config.write_text("- kafka\n")
    assert _problems(config) == [f"{config}:1: the top level must be a mapping of settings"]


def test_an_unknown_nested_environment_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_KAFKA__BOOTSTRAP_SERVER", "x:9092")
    with pytest.raises(ValidationError) as err:
        Settings()
    assert settings_problems(err.value) == ["environment: unknown key 'kafka.bootstrap_server'"]


def test_log_level_accepts_lower_case_and_refuses_other_names() -> None:
    assert Settings(log_level="debug").log_level == "DEBUG"
    with pytest.raises(ValidationError, match="log_level"):
        Settings(log_level="chatty")


def test_secrets_are_masked_unless_a_dump_reveals_them(tmp_path: Path) -> None:
    settings = Settings(
        llm=LLMSettings(api_key="sk-live-1"),
        healing=HealingSettings(admin_secret="hmac-secret-2"),
        api=ApiSettings(read_keys=["read-3"], admin_keys=["admin-4"]),
    )
    secrets = ["sk-live-1", "hmac-secret-2", "read-3", "admin-4"]
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert not [s for s in secrets if s in shown]
    assert settings.llm.api_key.get_secret_value() == "sk-live-1"
    revealed = settings.model_dump(mode="json", context={REVEAL_SECRETS: True})
    config = tmp_path / "forewarn.yaml"
    config.write_text(yaml.safe_dump(revealed))
    assert load_settings(config) == settings  # a revealed dump round-trips


def test_the_demo_app_reads_its_file_through_the_same_source(tmp_path: Path) -> None:
    from forewarn.musobuddy.config import load_config

    config = tmp_path / "musobuddy.yaml"
    config.write_text("resources:\n  db_pool_size: 80\n")
    assert load_config(config).resources.db_pool_size == 80
    config.write_text("resources:\n  db_pool_size: [80\n")
    with pytest.raises(ConfigFileError, match=rf"^{config}:3: invalid YAML"):
        load_config(config)
    config.write_text("seed: 1\nresources:\n  db_pool_size: 0\n")
    with pytest.raises(ConfigFileError, match=rf"^{config}:3: resources.db_pool_size: Input should be"):
        load_config(config)
