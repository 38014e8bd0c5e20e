"""The healing executor calls an https admin API signed by a private CA, trusting only the CA bundle
from settings; its audit details are sealed with the storage key from settings.

Real parts: the demo service over TLS (uvicorn with a certificate made by ``tests.tls``), the
executor built by ``from_settings`` as ``forewarn respond`` builds it.
"""

from __future__ import annotations

import json
import ssl
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from forewarn.events import Severity
from forewarn.field_crypto import generate_key
from forewarn.healing.audit import verify_log
from forewarn.healing.executor import HealingExecutor
from forewarn.healing.triggers import Trigger
from forewarn.musobuddy.config import DEMO_ADMIN_KEY_ID, DEMO_ADMIN_PRIVATE_KEY
from forewarn.musobuddy.server import serve_in_thread
from forewarn.settings import HealingSettings, SecuritySettings, Settings
from tests.tls import make_pki

from .conftest import demo_config, inject

pytestmark = pytest.mark.integration


def _trigger() -> Trigger:
    now = datetime.now(UTC)
    return Trigger(
        id=f"tls-{now.timestamp()}",
        source="detection",
        kind="metric_anomaly",
        service="database",
        series="database/db_pool_usage",
        severity=Severity.CRITICAL,
        timestamp=now,
        reason="pool filling",
    )


def _settings(state_dir: Path, base_url: str, ca: Path | None, key: str) -> Settings:
    return Settings(
        healing=HealingSettings(
            mode="auto",
            state_dir=state_dir,
            admin_base_url=base_url,
            admin_key_id=DEMO_ADMIN_KEY_ID,
            admin_private_key=DEMO_ADMIN_PRIVATE_KEY,
            admin_ca_bundle=ca,
        ),
        security=SecuritySettings(storage_keys=[key]),
    )


def test_admin_calls_over_https_trust_the_configured_ca(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    key = generate_key()
    trust = ssl.create_default_context(cafile=str(pki.ca_cert))
    with (
        serve_in_thread(demo_config(), tls=(pki.server_cert, pki.server_key)) as running,
        httpx.Client(timeout=10, verify=trust) as http,
    ):
        assert running.base_url.startswith("https://")
        inject(http, running.base_url, "db_pool_leak", rate=10.0)

        # Without the CA bundle the executor refuses the server's certificate: no action reaches it.
        blind = HealingExecutor.from_settings(_settings(tmp_path / "blind", running.base_url, None, key))
        try:
            [refused] = blind.handle(_trigger())
        finally:
            blind.close()
        assert refused.status != "succeeded"
        assert "CERTIFICATE_VERIFY_FAILED" in str(refused), refused
        assert running.app.state.admin.audit.records(0, 10) == []

        executor = HealingExecutor.from_settings(
            _settings(tmp_path / "trusting", running.base_url, pki.ca_cert, key)
        )
        try:
            [record] = executor.handle(_trigger())
            opened = list(executor.audit.records())
        finally:
            executor.close()
        assert record.status == "succeeded", record
        assert record.validation is not None and record.validation["ok"]  # health checked over TLS too
        audit = running.app.state.admin.audit.records(0, 10)
        assert [(r["action"], r["key_id"]) for r in audit] == [("reset-connections", DEMO_ADMIN_KEY_ID)]

    # The executor's audit log: chain intact without the key, details sealed on disk, open with it.
    log = tmp_path / "trusting" / "audit.jsonl"
    assert verify_log(log).ok
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines and all("sealed" in line and "inputs" not in line for line in lines)
    assert running.base_url not in log.read_text()
    assert any(r.event == "attempt" and r.result for r in opened)
