"""The demo app over real HTTP: uvicorn on a free port, real sockets, real signing client, real CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from forewarn.admin_signing import AdminAuth, parse_signing_key
from forewarn.events import LogRecord
from forewarn.musobuddy.config import DEMO_ADMIN_KEY_ID, DEMO_ADMIN_PRIVATE_KEY, MusoBuddyConfig
from forewarn.musobuddy.health import HEALTH_ENDPOINTS
from forewarn.musobuddy.server import running_app

pytestmark = pytest.mark.integration


def quick_config(**overrides: object) -> MusoBuddyConfig:
    values: dict[str, object] = {"seed": 3, "auth": {"pbkdf2_iterations": 2000}}
    values.update(overrides)
    return MusoBuddyConfig(**values)  # type: ignore[arg-type]


def test_health_over_http_takes_the_simulated_time(tmp_path: Path) -> None:
    config = quick_config(endpoints={"sms": {"latency_ms": 250, "jitter_ms": 0}})
    with (
        running_app(config, log_path=tmp_path / "app.jsonl") as base_url,
        httpx.Client(base_url=base_url) as client,
    ):
        assert base_url.startswith("http://127.0.0.1:")
        for name in HEALTH_ENDPOINTS:
            response = client.get(f"/api/health/{name}")
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "ok"
        started = time.perf_counter()
        body = client.get("/api/health/sms").json()
        elapsed_ms = (time.perf_counter() - started) * 1000
        assert body["latency_ms"] == pytest.approx(250)
        assert elapsed_ms >= 245  # the server really waited, so a probe measures it
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/api/health/overall", timeout=2)  # stopped on exit


def test_fault_and_signed_heal_over_http(tmp_path: Path) -> None:
    log_path = tmp_path / "app.jsonl"
    auth = AdminAuth(DEMO_ADMIN_KEY_ID, parse_signing_key(DEMO_ADMIN_PRIVATE_KEY))
    with (
        running_app(quick_config(simulate_latency=False), log_path=log_path) as base_url,
        httpx.Client(base_url=base_url, timeout=10) as client,
        httpx.Client(base_url=base_url, timeout=10, auth=auth) as admin,
    ):
        # 8 connections/s: about 1.2 s between 80% and full, so even a loaded machine sees "degraded".
        assert client.post("/api/faults/db_pool_leak", json={"rate": 8}).status_code == 200
        statuses: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "down" not in statuses:
            statuses.append(client.get("/api/health/database").json()["status"])
            time.sleep(0.05)
        assert statuses[0] == "ok"
        assert "degraded" in statuses
        assert statuses[-1] == "down"
        time.sleep(0.5)  # a few more leaked connections, so the +-1 baseline noise cannot lift it back
        assert client.get("/api/health/database").status_code == 503

        assert client.post("/api/admin/reset-connections", json={}).status_code == 401  # unsigned
        healed = admin.post("/api/admin/reset-connections", json={"reason": "pool exhausted"})
        assert healed.status_code == 200, healed.text
        assert healed.json()["after"]["db_waiters"] == 0
        assert client.get("/api/health/database").json()["status"] == "ok"

        # A captured request sent again is refused.
        captured = healed.request
        replay = client.post(captured.url.path, content=captured.content, headers=dict(captured.headers))
        assert replay.status_code == 409

        records = admin.get("/api/admin/audit").json()["records"]
        assert [(r["action"], r["status_code"]) for r in records] == [
            ("reset-connections", 401),
            ("reset-connections", 200),
            ("reset-connections", 409),
        ]
        assert records[1]["reason"] == "pool exhausted"

    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert lines, "the app wrote its log file"
    for line in lines:
        LogRecord.model_validate(line)  # every line is a valid forewarn log event as written
    messages = [line["message"] for line in lines]
    pool_lines = [m for m in messages if re.match(r"connection pool \d+% used \(\d+/50\)", m)]
    assert pool_lines, "the pool filling up is logged, e.g. 'connection pool 90% used (45/50)'"
    assert any(m.startswith("GET /api/health/database 503") for m in messages)
    assert any("slow query" in m for m in messages)
    assert any(line["logger"] == "musobuddy.admin" and line["level"] == "WARNING" for line in lines)


def test_running_app_with_a_test_driven_clock() -> None:
    """Ten simulated minutes of a leak over real HTTP, in well under a second of wall time."""
    simulated = [5000.0]
    with (
        running_app(quick_config(simulate_latency=False), clock=lambda: simulated[0]) as base_url,
        httpx.Client(base_url=base_url, timeout=10) as client,
    ):
        client.post("/api/faults/memory_leak", json={"rate": 1.0})
        before = client.get("/api/health/overall").json()
        simulated[0] += 600
        after = client.get("/api/health/overall").json()
        grown = after["details"]["memory_bytes"] - before["details"]["memory_bytes"]
        assert abs(grown - 600 * 1024 * 1024) < 16 * 1024 * 1024  # 600 s x 1 MiB/s, give or take noise
        assert after["details"]["uptime_seconds"] == pytest.approx(600, abs=0.01)


def test_cli_demo_app_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    log_path = tmp_path / "cli.jsonl"
    env = {**os.environ, "MUSOBUDDY_AUTH__PBKDF2_ITERATIONS": "2000", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "forewarn", "demo-app", "--port", "0", "--log-file", str(log_path)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "musobuddy demo service on http://127.0.0.1:" in line, line
        base_url = line.split(" on ", 1)[1].split(" ", 1)[0]
        response = httpx.get(f"{base_url}/api/health/auth", timeout=10)
        assert response.status_code == 200
        assert response.json()["details"]["login_ok"] is True
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    logged = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert any(entry["message"].startswith("GET /api/health/auth 200") for entry in logged)
    assert logged[-1]["message"] == "musobuddy stopping"


def test_cli_help_and_bad_config(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from forewarn.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["demo-app", "--help"])
    assert result.exit_code == 0
    assert "MusoBuddy" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("resources:\n  db_pool_size: -3\n")
    result = runner.invoke(app, ["demo-app", "--port", "0", "--config", str(bad)])
    assert result.exit_code == 2
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["demo-app", "--port", str(port)])
    assert result.exit_code == 2
    assert "cannot bind" in result.output


def test_cli_demo_admin_signs_calls() -> None:
    from typer.testing import CliRunner

    from forewarn.cli import app

    runner = CliRunner()
    with running_app(quick_config(simulate_latency=False)) as base_url:
        result = runner.invoke(
            app, ["demo-admin", "maintenance", "--url", base_url, "--body", '{"enabled": true}']
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["after"]["maintenance"] is True
        assert httpx.get(f"{base_url}/api/health/overall").json()["status"] == "degraded"
        audit = runner.invoke(app, ["demo-admin", "audit", "--url", base_url])
        assert json.loads(audit.stdout)["records"][0]["action"] == "maintenance"
        wrong = runner.invoke(app, ["demo-admin", "restart-service", "--url", base_url, "--secret", "x" * 20])
        assert wrong.exit_code == 1
        assert "signature does not match" in wrong.stdout
        bad = runner.invoke(app, ["demo-admin", "failover", "--url", base_url, "--body", "{oops"])
        assert bad.exit_code == 2
