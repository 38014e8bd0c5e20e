"""``forewarn config check`` and ``forewarn config show``, and the shipped example config file."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.settings import CONFIG_ENV_VAR, Settings, load_settings

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).resolve().parent.parent / "forewarn.example.yaml"


@pytest.fixture(autouse=True)
def _no_ambient_config() -> Iterator[None]:
    """No FOREWARN_CONFIG before a test, and none left after it: ``--config`` sets it for the process."""
    previous = os.environ.pop(CONFIG_ENV_VAR, None)
    yield
    os.environ.pop(CONFIG_ENV_VAR, None)
    if previous is not None:
        os.environ[CONFIG_ENV_VAR] = previous


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "forewarn.yaml"
    path.write_text(text)
    return path


def test_check_accepts_a_valid_file_with_a_summary(tmp_path: Path) -> None:
    path = _write(tmp_path, "kafka:\n  bootstrap_servers: broker:9092\nhealing:\n  mode: shadow\n")
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    first, second, *warnings = result.output.splitlines()
    assert first == f"ok: {path}"
    assert "kafka broker:9092" in second and "healing shadow" in second
    assert warnings == [
        "  warning: no storage key (security.storage_keys / storage_key_file): the state store's "
        "payloads, the audit log's details, the healing state and the recovery snapshots are written "
        "in plain text"
    ]


def test_check_accepts_storage_keys_and_refuses_a_malformed_one(tmp_path: Path) -> None:
    from forewarn.field_crypto import generate_key

    good = _write(tmp_path, f"security:\n  storage_keys: ['{generate_key()}']\n")
    result = CliRunner().invoke(app, ["config", "check", str(good)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    bad = _write(tmp_path, "security:\n  storage_keys: ['c2hvcnQ=']\n")
    result = CliRunner().invoke(app, ["config", "check", str(bad)])
    assert result.exit_code == 2
    assert (
        "security.storage_keys[0]: a storage key is 32 bytes of base64, this one decodes to 5"
        in result.output
    )
    missing = _write(tmp_path, f"security:\n  storage_key_file: {tmp_path / 'nope.keys'}\n")
    result = CliRunner().invoke(app, ["config", "check", str(missing)])
    assert result.exit_code == 2 and "cannot read the storage key file" in result.output


def test_check_refuses_a_bad_file_with_one_line_per_problem(tmp_path: Path) -> None:
    path = _write(tmp_path, "healing:\n  mode: autoo\nprobe:\n  interval_secs: 30\n")
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"{path}:2: healing.mode: 'autoo' is not allowed "
        "(allowed: 'off', 'dry-run', 'shadow', 'approve' or 'auto')",
        f"{path}:4: unknown key 'probe.interval_secs'",
    ]


def test_check_reports_malformed_yaml_without_a_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, "kafka:\n  client_id: [x\n  consumer_group: y\n")
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2
    (line,) = result.output.splitlines()
    assert line.startswith(f"{path}:3: invalid YAML (")
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_check_reports_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "check", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2
    assert result.output.strip() == f"{tmp_path / 'absent.yaml'}: no such config file"


def test_every_command_stops_on_a_bad_config_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "kafka:\n  bootstrap_server: x\n")
    result = CliRunner().invoke(app, ["--config", str(path), "heal", "actions"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [f"{path}:2: unknown key 'kafka.bootstrap_server'"]


def test_show_prints_file_and_environment_with_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "kafka:\n  client_id: from-file\nllm:\n  api_key: sk-from-file\n")
    monkeypatch.setenv("FOREWARN_HEALING__ADMIN_SECRET", "hmac-from-env")
    monkeypatch.setenv("FOREWARN_API__READ_KEYS", '["read-from-env"]')
    monkeypatch.setenv("FOREWARN_STORE__URL", "postgresql+psycopg://app:db-password@db/forewarn")
    result = CliRunner().invoke(app, ["--config", str(path), "config", "show"])
    assert result.exit_code == 0, result.output
    for secret in ("sk-from-file", "hmac-from-env", "read-from-env", "db-password"):
        assert secret not in result.output
    assert result.output.startswith(f"# forewarn settings in force ({path};")
    shown = yaml.safe_load(result.output)
    assert shown["kafka"]["client_id"] == "from-file"
    assert shown["llm"]["api_key"] == shown["healing"]["admin_secret"] == "**********"
    assert shown["api"]["read_keys"] == ["**********"]
    assert shown["store"]["url"] == "postgresql+psycopg://app:***@db/forewarn"

    as_json = CliRunner().invoke(app, ["config", "show", str(path), "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == shown


def _field_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], bool]]:
    """Every settings key and whether it is a leaf; sections are walked (a dict of models is data)."""
    out: list[tuple[tuple[str, ...], bool]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        out.append(((*prefix, name), not section))
        if section:
            assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
            out.extend(_field_paths(annotation, (*prefix, name)))
    return out


def test_the_example_file_is_valid_and_holds_the_defaults() -> None:
    result = CliRunner().invoke(app, ["config", "check", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    # Every value written in the example is the default, so it documents them and cannot drift.
    assert load_settings(EXAMPLE) == Settings()


def test_the_example_file_documents_every_setting() -> None:
    text = EXAMPLE.read_text()
    data = yaml.safe_load(text)
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    missing, undocumented = [], []
    paths = _field_paths(Settings)
    assert len(paths) > 100  # the walk reaches into every section
    for path, leaf in paths:
        node = data
        for part in path:
            node = node.get(part, KeyError) if isinstance(node, dict) else KeyError
        if node is KeyError:
            missing.append(".".join(path))
        env = "FOREWARN_" + "__".join(path).upper()
        if leaf and not any(re.search(rf"Env: {env}\b", line) for line in comments):
            undocumented.append(env)
    assert not missing, f"add to forewarn.example.yaml: {missing}"
    assert not undocumented, f"name these env vars in forewarn.example.yaml: {undocumented}"


def test_check_validates_the_admin_signing_key_and_warns_on_hmac(tmp_path: Path) -> None:
    from forewarn.admin_signing import generate_key_pair

    private, public = generate_key_pair()
    keys = f"security:\n  storage_keys: ['{generate_key_text()}']\n"
    good = _write(tmp_path, keys + f"healing:\n  admin_private_key: '{private}'\n")
    result = CliRunner().invoke(app, ["config", "check", str(good)])
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    wrong_half = _write(tmp_path, keys + f"healing:\n  admin_private_key: '{public}'\n")
    result = CliRunner().invoke(app, ["config", "check", str(wrong_half)])
    assert result.exit_code == 2 and "healing.admin_private_key: expected ed25519-private" in result.output
    assert public not in result.output.replace("ed25519-private", "")  # errors never echo a key
    legacy = _write(tmp_path, keys + "healing:\n  admin_secret: an-hmac-secret-from-before\n")
    result = CliRunner().invoke(app, ["config", "check", str(legacy)])
    assert result.exit_code == 0 and "healing.admin_secret signs with HMAC" in result.output
    both = _write(tmp_path, f"healing:\n  admin_private_key: '{private}'\n  admin_secret: an-hmac-secret-x\n")
    result = CliRunner().invoke(app, ["config", "check", str(both)])
    assert result.exit_code == 2 and "set one admin signing key" in result.output


def generate_key_text() -> str:
    from forewarn.field_crypto import generate_key

    return generate_key()
