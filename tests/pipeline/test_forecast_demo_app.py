"""End to end on real parts: the demo app leaks its DB pool, the probe runner publishes, the dataflow
forecasts, and the exhaustion_forecast detection arrives before the pool is exhausted.

Everything is real: the MusoBuddy app (HTTP on a free port), ``forewarn probe`` and ``forewarn run`` in
their own processes, the session's Kafka broker. The leak runs at 2 connections/s (44 free
connections: full ~22 s after injection) so the test stays under a minute.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from forewarn.events import Detection
from forewarn.kafka.io import read_topic
from forewarn.musobuddy.server import running_app
from forewarn.settings import ProbeSettings, Settings

from .kafka_process import start_dataflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LEAK_RATE = 2.0  # connections per second


def _probe_process(config: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    env.update({"FOREWARN_CONFIG": str(config), "PYTHONUNBUFFERED": "1"})
    if "FOREWARN_CACHE_DIR" in os.environ:
        env["FOREWARN_CACHE_DIR"] = os.environ["FOREWARN_CACHE_DIR"]
    return subprocess.Popen(
        [sys.executable, "-m", "forewarn", "probe", "--interval", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _database_probes(settings: Settings) -> list[dict[str, Any]]:
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.probes, timeout=5)
    docs = [json.loads(r.value) for r in records]
    return sorted((d for d in docs if d["service"] == "database"), key=lambda d: d["timestamp"])


def _exhaustion(settings: Settings) -> list[Detection]:
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.detections, timeout=5)
    found = (Detection.model_validate_json(r.value) for r in records)
    return sorted((d for d in found if d.detection_kind == "exhaustion_forecast"), key=lambda d: d.timestamp)


def test_demo_app_pool_leak_is_forecast_before_the_pool_is_exhausted(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    with running_app() as base:
        probe = ProbeSettings(base_url=base, services=["database", "overall"], interval_seconds=1.0)
        settings = kafka_settings.model_copy(update={"probe": probe})
        with start_dataflow(settings, tmp_path) as dataflow:
            prober = _probe_process(tmp_path / "forewarn.yaml")
            try:
                deadline = time.monotonic() + 40
                while len(_database_probes(settings)) < 12 and time.monotonic() < deadline:
                    assert prober.poll() is None, "the probe runner exited"
                    time.sleep(1)
                answer = httpx.post(f"{base}/api/faults/db_pool_leak", json={"rate": LEAK_RATE}, timeout=5)
                assert answer.status_code == 200, answer.text
                injected = time.time()
                full: list[dict[str, Any]] = []
                deadline = time.monotonic() + 60
                while not full and time.monotonic() < deadline:
                    time.sleep(2)
                    probes = _database_probes(settings)
                    full = [p for p in probes if (p.get("details") or {}).get("db_pool_usage", 0) >= 1.0]
                assert full, "the pool never filled"
                time.sleep(3)  # let the dataflow finish what it holds
                alerts = _exhaustion(settings)
            finally:
                prober.send_signal(signal.SIGINT)
                try:
                    prober.wait(15)
                except subprocess.TimeoutExpired:
                    prober.kill()
                    prober.wait()
    assert alerts, "no exhaustion_forecast detection:\n" + "\n".join(dataflow.lines[-30:])
    first = alerts[0]
    full_at = datetime.fromisoformat(full[0]["timestamp"])
    lead = (full_at - first.timestamp).total_seconds()
    assert first.service == "database" and first.series == "database/db_pool_usage"
    assert first.timestamp.timestamp() >= injected - 1.0  # not a false alarm from the healthy baseline
    assert lead > 0, f"warned {-lead:.1f} s after the pool was full: {first.reason}"
    assert first.value < 1.0
