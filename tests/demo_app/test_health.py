"""Health endpoints: one format for all, graded by configured thresholds, auth runs a real login."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forewarn.events import ProbeResult
from forewarn.musobuddy.config import load_config
from forewarn.musobuddy.health import HEALTH_ENDPOINTS

from .conftest import AppFactory, ManualClock, muso

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", HEALTH_ENDPOINTS)
def test_every_endpoint_speaks_the_standard_format(client: TestClient, name: str) -> None:
    response = client.get(f"/api/health/{name}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"service", "status", "latency_ms", "checked_at", "version", "checks", "details"}
    assert body["service"] == name
    assert body["status"] == "ok"
    assert body["version"] == "2.4.0"
    assert body["latency_ms"] > 0
    assert body["checks"], "every report lists the checks it ran"
    for check in body["checks"]:
        assert set(check) == {"name", "status", "latency_ms", "detail"}
        assert check["status"] in {"ok", "degraded", "down"}
    # The details fit forewarn's ProbeResult, so the probe runner can forward them as they are.
    ProbeResult(
        service=name,
        endpoint=f"/api/health/{name}",
        timestamp=body["checked_at"],
        latency_ms=body["latency_ms"],
        status_code=200,
        ok=True,
        status=body["status"],
        details=body["details"],
    )


def test_overall_details_carry_the_resource_numbers(client: TestClient) -> None:
    details = client.get("/api/health/overall").json()["details"]
    assert details["db_pool_size"] == 50
    assert details["db_pool_in_use"] == 6
    assert details["db_pool_usage"] == pytest.approx(6 / 50)
    assert details["memory_limit_bytes"] == 1024**3
    assert 0 < details["memory_usage"] < 0.5
    assert details["disk_usage"] == pytest.approx(0.4)
    assert details["email_provider"] == "sendgrid"
    assert details["sms_provider"] == "twilio"
    assert details["error_rate"] == 0.0


def test_unknown_health_endpoint_is_404_with_detail(client: TestClient) -> None:
    response = client.get("/api/health/kitchen")
    assert response.status_code == 404
    assert "unknown health endpoint 'kitchen'" in response.json()["detail"]


def test_auth_runs_a_real_login_flow(make_app: AppFactory) -> None:
    client, app = make_app()
    body = client.get("/api/health/auth").json()
    names = [check["name"] for check in body["checks"]]
    assert names == ["user_lookup", "password_verify", "session_issue", "session_verify"]
    assert body["details"]["login_ok"] is True
    assert body["details"]["sessions_issued"] == 1
    client.get("/api/health/auth")
    login = muso(app).checker.login
    assert login.sessions_issued == 2
    # The password check really is a check: the right password passes, a wrong one fails.
    assert login.check_password(login._password)
    assert not login.check_password("not-the-password")
    token = login.tokens.issue(login.user)
    assert login.tokens.verify(token) == login.user
    assert login.tokens.verify(token.replace(".", ".x", 1)) is None


def test_session_tokens_expire(make_app: AppFactory, wall_clock: ManualClock) -> None:
    _, app = make_app(auth={"pbkdf2_iterations": 1000, "session_ttl_seconds": 60})
    tokens = muso(app).checker.login.tokens
    token = tokens.issue("someone@musobuddy.test")
    wall_clock.advance(59)
    assert tokens.verify(token) == "someone@musobuddy.test"
    wall_clock.advance(2)
    assert tokens.verify(token) is None


def test_auth_depends_on_the_database(client: TestClient) -> None:
    client.post("/api/faults/db_outage")
    response = client.get("/api/health/auth")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["checks"][0]["name"] == "user_lookup"
    assert "Connection refused" in body["checks"][0]["detail"]
    assert body["details"]["login_ok"] is False


def test_latency_thresholds_come_from_config(make_app: AppFactory) -> None:
    # email's simulated latency is 60 ms by default: move the thresholds around it.
    ok_client, _ = make_app()
    assert ok_client.get("/api/health/email").json()["status"] == "ok"
    degraded_client, _ = make_app(endpoints={"email": {"latency_ms": 60, "degraded_ms": 50, "down_ms": 100}})
    body = degraded_client.get("/api/health/email").json()
    assert body["status"] == "degraded"
    assert body["checks"][-1]["name"] == "latency"
    down_client, _ = make_app(endpoints={"email": {"latency_ms": 60, "degraded_ms": 20, "down_ms": 40}})
    response = down_client.get("/api/health/email")
    assert response.status_code == 503
    assert response.json()["status"] == "down"


def test_simulated_latency_is_reported(make_app: AppFactory) -> None:
    client, _ = make_app(endpoints={"sms": {"latency_ms": 321, "jitter_ms": 0}})
    assert client.get("/api/health/sms").json()["latency_ms"] == pytest.approx(321)


def test_config_from_yaml_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "musobuddy.yaml"
    path.write_text(
        "version: 9.9.9\n"
        "resources:\n  db_pool_size: 80\n"
        "endpoints:\n  auth:\n    degraded_ms: 700\n    down_ms: 900\n"
    )
    config = load_config(path)
    assert config.version == "9.9.9"
    assert config.resources.db_pool_size == 80
    assert config.endpoints.auth.degraded_ms == 700
    monkeypatch.setenv("MUSOBUDDY_RESOURCES__DB_POOL_SIZE", "120")
    monkeypatch.setenv("MUSOBUDDY_ENDPOINTS__AUTH__DOWN_MS", "1200")
    config = load_config(path)
    assert config.resources.db_pool_size == 120  # env beats the file
    assert config.endpoints.auth.down_ms == 1200
    assert config.endpoints.auth.degraded_ms == 700  # the rest of the file still applies
    assert load_config(path, version="1.0.0").version == "1.0.0"  # arguments beat both


def test_config_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("endpoints:\n  auth:\n    degraded_ms: 900\n    down_ms: 100\n")
    with pytest.raises(ValueError, match="down_ms"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        load_config(listy)


def test_example_config_documents_the_defaults() -> None:
    example = Path(__file__).parents[2] / "examples" / "musobuddy" / "musobuddy.example.yaml"
    assert load_config(example) == load_config()
