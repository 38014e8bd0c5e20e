"""Application logs: realistic JSON lines that forewarn's log shipper can forward as LogRecords."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from forewarn.events import LogLevel, LogRecord
from forewarn.musobuddy.applog import AppLog

from .conftest import AppFactory, ManualClock, muso

pytestmark = pytest.mark.unit


def lines(app: FastAPI) -> list[dict[str, Any]]:
    return list(muso(app).log.recent)


def messages(app: FastAPI, logger: str) -> list[str]:
    return [line["message"] for line in lines(app) if line["logger"] == logger]


def test_pool_warnings_as_it_fills(make_app: AppFactory, clock: ManualClock) -> None:
    client, app = make_app()
    client.post("/api/faults/db_pool_leak", json={"rate": 1.0})
    for _ in range(60):
        clock.advance(1)
        client.get("/api/health/database")
    pool = messages(app, "musobuddy.db.pool")
    assert pool[:4] == [
        "connection pool 70% used (35/50)",
        "connection pool 80% used (40/50)",
        "connection pool 90% used (45/50)",
        "connection pool 100% used (50/50)",
    ]
    assert pool[-1].startswith("connection pool 100% used (50/50), ")
    assert pool[-1].endswith("requests waiting for a connection")
    levels = {line["level"] for line in lines(app) if line["logger"] == "musobuddy.db.pool"}
    assert levels == {"WARNING", "ERROR"}
    assert any(m.startswith("slow query ") for m in messages(app, "musobuddy.db"))
    assert any(m.startswith("synthetic login failed") for m in messages(app, "musobuddy.auth")) is False
    client.get("/api/health/auth")
    assert any("timeout acquiring a connection" in m for m in messages(app, "musobuddy.auth"))


def test_provider_and_payment_errors(make_app: AppFactory) -> None:
    client, app = make_app()
    client.post("/api/faults/email_outage")
    client.post("/api/faults/sms_outage")
    client.post("/api/faults/payment_errors", json={"rate": 0.9})
    for name in ("email", "sms", "payments"):
        client.get(f"/api/health/{name}")
    assert any("SMTP 421" in m for m in messages(app, "musobuddy.email"))
    assert any("HTTP 503" in m for m in messages(app, "musobuddy.sms"))
    payments = messages(app, "musobuddy.payments")
    assert "payment declined: card_declined (HTTP 402) for booking deposit GBP 150.00" in payments
    assert any("HTTP 502 Bad Gateway" in m for m in payments)
    assert len(payments) <= 3  # bounded per check, so a broken provider does not flood the log


def test_oom_is_critical(make_app: AppFactory, clock: ManualClock) -> None:
    client, app = make_app()
    client.post("/api/faults/memory_leak", json={"rate": 50})
    for _ in range(20):
        clock.advance(1)
        client.get("/api/health/overall")
    critical = [line for line in lines(app) if line["level"] == "CRITICAL"]
    assert critical
    assert "OOMKilled" in critical[0]["message"]
    memory = messages(app, "musobuddy.process")
    # One warning per level crossed (80, 90, 95%), each at the first reading past it (+4.9%/s here).
    percents = [int(m.split("%")[0].removeprefix("memory usage ")) for m in memory[:3]]
    assert [level <= pct < level + 5 for level, pct in zip((80, 90, 95), percents, strict=True)] == [True] * 3


def test_request_lines(client: TestClient) -> None:
    client.get("/api/health/email")
    app = client.app
    assert isinstance(app, FastAPI)
    line = lines(app)[-1]
    assert line["logger"] == "musobuddy.http"
    assert line["message"].startswith("GET /api/health/email 200 ")
    assert line["status_code"] == 200
    assert line["path"] == "/api/health/email"


def test_every_line_is_a_valid_log_record(make_app: AppFactory, clock: ManualClock) -> None:
    client, app = make_app()
    for fault in ("cascade", "email_outage", "payment_errors", "disk_fill", "memory_leak"):
        client.post(f"/api/faults/{fault}")
    for _ in range(40):
        clock.advance(5)
        client.get("/api/health/overall")
        client.get("/api/health/payments")
        client.get("/api/health/database")
    assert len(lines(app)) > 100
    for line in lines(app):
        record = LogRecord.model_validate(json.loads(json.dumps(line)))
        assert record.level in set(LogLevel)
        assert record.service in {"musobuddy", "database", "auth", "email", "sms", "payments", "overall"}


def test_applog_writes_file_and_stream_and_respects_level(tmp_path: Path) -> None:
    stream = io.StringIO()
    path = tmp_path / "logs" / "app.jsonl"
    log = AppLog(path=path, stream=stream, level="WARNING", wall_clock=lambda: 1_800_000_000.0)
    log.info("x", "dropped: below the level")
    log.warning(
        "musobuddy.db.pool", "connection pool 90% used (45/50)", service="database", db_pool_in_use=45
    )
    log.close()
    written = path.read_text().splitlines()
    assert written == stream.getvalue().splitlines()
    assert len(written) == 1
    record = json.loads(written[0])
    assert record == {
        "timestamp": "2027-01-15T08:00:00.000+00:00",
        "level": "WARNING",
        "logger": "musobuddy.db.pool",
        "message": "connection pool 90% used (45/50)",
        "service": "database",
        "db_pool_in_use": 45,
    }
    log.close()  # closing twice is harmless


def test_noise_around_a_level_warns_once(make_app: AppFactory, clock: ManualClock) -> None:
    client, app = make_app()
    sim = muso(app).simulation
    for leaked in (30, 29, 30, 28, 30, 29, 30):  # 6 baseline + leaked: 36/50 = 72%, 35 = 70%, 34 = 68%
        sim.state.db_leaked = leaked
        clock.advance(1)
        client.get("/api/health/database")
    assert messages(app, "musobuddy.db.pool") == ["connection pool 72% used (36/50)"]
    sim.state.db_leaked = 20  # 52%: well below, so the next climb warns again
    clock.advance(1)
    client.get("/api/health/database")
    sim.state.db_leaked = 30
    clock.advance(1)
    client.get("/api/health/database")
    assert len(messages(app, "musobuddy.db.pool")) == 2
