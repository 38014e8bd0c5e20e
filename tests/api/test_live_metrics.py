"""The real ``forewarn probe`` and ``forewarn respond`` processes serve the dashboard's families.

``test_prometheus.py`` proves every dashboard expression returns data when the families are fed;
this test proves the processes themselves feed them: each child runs with ``--metrics-port`` on a
free port against the real demo app and the session's Kafka broker, and its ``/metrics`` is read
over HTTP. Every child is stopped (SIGINT, then kill) when its block ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from forewarn.dev.broker import find_free_port
from forewarn.settings import Settings
from tests.factories import make_detection

pytestmark = pytest.mark.integration


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_") or k == "FOREWARN_CACHE_DIR"}
    env |= {
        "PYTHONUNBUFFERED": "1",
        "FOREWARN_LOG_LEVEL": "INFO",
        "FOREWARN_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
    }
    for field in ("probes", "detections", "forecasts", "incidents", "actions"):
        env[f"FOREWARN_TOPICS__{field.upper()}"] = getattr(settings.topics, field)
    return env | extra


@contextlib.contextmanager
def forewarn_child(args: list[str], env: dict[str, str]) -> Iterator[Callable[[], str]]:
    """Run ``forewarn ARGS``; yields a function returning its output so far (for failure messages)."""
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "forewarn", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def output() -> str:
            log.flush()
            log.seek(0)
            return log.read()[-4000:]

        try:
            yield output
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


def wait_for_metrics(url: str, wanted: list[str], output: Callable[[], str], timeout: float = 30.0) -> str:
    """Poll ``url`` until every ``wanted`` sample line prefix appears; returns the exposition text."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            text = httpx.get(url, timeout=2).text
            lines = text.splitlines()
            if all(any(line.startswith(prefix) for line in lines) for prefix in wanted):
                return text
        time.sleep(0.5)
    missing = [p for p in wanted if not any(line.startswith(p) for line in text.splitlines())]
    raise AssertionError(
        f"{missing} not on {url} after {timeout:.0f}s\n{text[-2000:]}\n--- output:\n{output()}"
    )


def _sample(text: str, prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {prefix} in\n{text}")


def test_probe_process_serves_probe_metrics(kafka_settings: Settings) -> None:
    from forewarn.musobuddy.server import running_app

    port = find_free_port()
    with running_app() as base_url:
        args = ["probe", "--interval", "1", "--base-url", base_url, "--metrics-port", str(port)]
        with forewarn_child(args, _env(kafka_settings)) as output:
            text = wait_for_metrics(
                f"http://127.0.0.1:{port}/metrics",
                ['forewarn_probe_up{service="auth"}', 'forewarn_probe_latency_seconds_count{service="auth"}'],
                output,
            )
    assert _sample(text, 'forewarn_probe_up{service="auth"}') == 1.0
    assert _sample(text, 'forewarn_probe_latency_seconds_count{service="auth"}') >= 1.0
    assert _sample(text, 'forewarn_probes_total{service="auth",status="ok"}') >= 1.0


def test_respond_process_serves_healing_metrics(kafka_settings: Settings, tmp_path: Path) -> None:
    from forewarn.kafka.io import make_producer
    from forewarn.musobuddy.config import DEMO_ADMIN_KEY_ID, DEMO_ADMIN_PRIVATE_KEY
    from forewarn.musobuddy.server import running_app

    port = find_free_port()
    with running_app() as base_url:
        httpx.post(f"{base_url}/api/faults/email_outage", json={}, timeout=5).raise_for_status()
        env = _env(
            kafka_settings,
            FOREWARN_HEALING__MODE="auto",
            FOREWARN_HEALING__ADMIN_BASE_URL=base_url,
            FOREWARN_HEALING__ADMIN_KEY_ID=DEMO_ADMIN_KEY_ID,
            FOREWARN_HEALING__ADMIN_PRIVATE_KEY=DEMO_ADMIN_PRIVATE_KEY,
            FOREWARN_HEALING__STATE_DIR=str(tmp_path / "healing"),
        )
        with forewarn_child(["respond", "--from-beginning", "--metrics-port", str(port)], env) as output:
            url = f"http://127.0.0.1:{port}/metrics"
            # The heartbeat says the loop runs (consumer assigned) before the detection is sent.
            wait_for_metrics(url, ['forewarn_heartbeat_timestamp_seconds{component="responder"}'], output)
            now = datetime.now(UTC)
            detection = make_detection("email", now, reason="email is failing")
            producer = make_producer(kafka_settings)
            producer.send(kafka_settings.topics.detections, key="email", value=detection.to_json_bytes())
            producer.flush()
            producer.close()
            attempts = 'forewarn_heal_attempts_total{action="provider-failover",service="email"}'
            text = wait_for_metrics(url, [attempts], output, timeout=60)
    assert _sample(text, attempts) == 1.0
    successes = 'forewarn_heal_successes_total{action="provider-failover",service="email"}'
    assert _sample(text, successes) == 1.0
    # The reporter's families share the registry: the incident's (offline) report is counted.
    assert "forewarn_incident_reports_total" in text
