"""``HealingExecutor.from_settings`` (what the demo and ``forewarn heal run`` use) against the real
demo service on real time: settings give the admin key, the base URL, the paths and the mode."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from forewarn.events import Severity
from forewarn.healing.executor import HealingExecutor
from forewarn.healing.triggers import Trigger
from forewarn.musobuddy.config import DEMO_ADMIN_KEY_ID, DEMO_ADMIN_PRIVATE_KEY
from forewarn.musobuddy.server import serve_in_thread
from forewarn.settings import HealingSettings, Settings

from .conftest import demo_config, inject

pytestmark = pytest.mark.integration


def _trigger(service: str, series: str) -> Trigger:
    now = datetime.now(UTC)
    return Trigger(
        id=f"real-{now.timestamp()}",
        source="detection",
        kind="metric_anomaly",
        service=service,
        series=series,
        severity=Severity.CRITICAL,
        timestamp=now,
        reason="pool filling",
    )


def test_from_settings_heals_the_real_service(tmp_path: Path) -> None:
    with serve_in_thread(demo_config()) as running, httpx.Client(timeout=10) as http:
        settings = Settings(
            healing=HealingSettings(
                mode="auto",
                state_dir=tmp_path,
                admin_base_url=running.base_url,
                admin_key_id=DEMO_ADMIN_KEY_ID,
                admin_private_key=DEMO_ADMIN_PRIVATE_KEY,
            )
        )
        inject(http, running.base_url, "db_pool_leak", rate=10.0)
        executor = HealingExecutor.from_settings(settings)
        try:
            [record] = executor.handle(_trigger("database", "database/db_pool_usage"))
        finally:
            executor.close()
        assert record.status == "succeeded", record
        assert record.validation is not None and record.validation["ok"]
        assert (tmp_path / "audit.jsonl").exists() and (tmp_path / "state.sqlite3").exists()
        audit = running.app.state.admin.audit.records(0, 10)
        assert [(r["action"], r["key_id"]) for r in audit] == [("reset-connections", DEMO_ADMIN_KEY_ID)]


def test_default_settings_are_safe(tmp_path: Path) -> None:
    """Out of the box: dry-run and no admin secret, so nothing is ever changed by accident."""
    settings = Settings(healing=HealingSettings(state_dir=tmp_path))
    executor = HealingExecutor.from_settings(settings)
    try:
        assert executor.global_mode == "dry-run"
        [record] = executor.handle(_trigger("database", "database/db_pool_usage"))
        assert record.status == "dry_run"
        assert executor.admin_client_for("database") is None
    finally:
        executor.close()
