"""A REAL alert chain: Prometheus 2.42 fires a rule, Alertmanager 0.25 calls the webhook of
``forewarn receive``, and the real responder opens an incident, then closes it when the alert resolves.

Nothing in the chain is a stand-in: Debian's ``prometheus`` and ``prometheus-alertmanager`` (installed
by the test when missing), a real broker, the receiver as a process, and the responder's own Kafka
loop (``forewarn.incidents.service.serve``) in a thread.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Gauge
from pydantic import SecretStr

from forewarn.dev.prometheus_server import (
    PrometheusServer,
    free_port,
)
from forewarn.kafka.io import read_topic
from forewarn.settings import HealingSettings, ReceiverSettings, Settings

from .receiver_process import start_receiver
from .running import metrics_target, real_binaries

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "alertmanager-push-key"

RULES = """\
groups:
  - name: checkout
    rules:
      - alert: CheckoutErrors
        expr: checkout_error_ratio > 0.5
        labels:
          severity: critical
          service: checkout
        annotations:
          summary: "checkout fails {{ $value }} of its requests"
"""


@contextlib.contextmanager
def alertmanager(binary: Path, workdir: Path, webhook_url: str) -> Iterator[str]:
    """Alertmanager on a free loopback port, no cluster, grouping waits of 1 s; yields its address."""
    workdir.mkdir()
    config = workdir / "alertmanager.yml"
    config.write_text(
        f"""\
route:
  receiver: forewarn
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: forewarn
    webhook_configs:
      - url: {webhook_url}
        send_resolved: true
        http_config:
          authorization:
            credentials: {KEY}
"""
    )
    port = free_port()
    log = (workdir / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [
            str(binary),
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, (
                workdir / "alertmanager.log"
            ).read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def error_ratio() -> Iterator[tuple[str, Gauge]]:
    registry = CollectorRegistry()
    gauge = Gauge("checkout_error_ratio", "Share of checkout requests failing.", registry=registry)
    with metrics_target(registry) as target:
        yield target, gauge


def incidents(settings: Settings) -> list[dict[str, Any]]:
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.incidents, timeout=2)
    return [json.loads(r.value) for r in records]


def wait_for(settings: Settings, done: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    seen = incidents(settings)
    while not done(seen) and time.monotonic() < deadline:
        time.sleep(1)
        seen = incidents(settings)
    return seen


def test_a_firing_alert_opens_an_incident_and_its_resolution_closes_it(
    kafka_settings: Settings, tmp_path: Path, error_ratio: tuple[str, Gauge]
) -> None:
    from forewarn.incidents.service import serve

    prometheus_binary, alertmanager_binary = real_binaries(alertmanager=True)
    assert alertmanager_binary is not None
    target, gauge = error_ratio
    settings = kafka_settings.model_copy(
        update={
            "receiver": ReceiverSettings(keys=[SecretStr(KEY)]),
            "healing": HealingSettings(state_dir=tmp_path / "healing"),  # dry-run: decide, never act
        }
    )
    stop = threading.Event()
    responder = threading.Thread(target=serve, args=(settings, stop), kwargs={"from_beginning": True})
    responder.start()
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    try:
        with (
            start_receiver(settings, tmp_path) as receiver,
            alertmanager(alertmanager_binary, tmp_path / "am", f"{receiver.url}/alertmanager/webhook") as am,
        ):
            prometheus = PrometheusServer(prometheus_binary, tmp_path / "prometheus", [target], job="shop")
            prometheus.workdir.mkdir()
            prometheus.config = (
                prometheus.config.replace("scrape_configs:", f"rule_files:\n  - {rules}\nscrape_configs:")
                + f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n"
            )
            prometheus.start()
            try:
                gauge.set(0.9)
                opened = wait_for(settings, lambda seen: any(i["status"] == "open" for i in seen))
                gauge.set(0.0)
                closed = wait_for(settings, lambda seen: any(i["status"] == "resolved" for i in seen))
            finally:
                prometheus.stop()
    finally:
        stop.set()
        responder.join(30)
    assert not responder.is_alive()
    assert opened, "no incident from the firing alert; receiver:\n" + "\n".join(receiver.lines[-20:])
    incident = next(i for i in opened if i["status"] == "open")
    assert (incident["service"], incident["severity"]) == ("checkout", "critical")
    [detection] = incident["detections"]
    assert detection["detection_kind"] == "alert" and detection["detector"] == "alertmanager"
    assert detection["series"].startswith("checkout/alert/CheckoutErrors/")
    assert "checkout fails 0.9 of its requests" in detection["reason"]
    assert incident["report"]["source"] == "offline"
    resolved = [i for i in closed if i["status"] == "resolved"]
    assert [i["id"] for i in resolved] == [incident["id"]], "the resolved alert should close its incident"
    assert resolved[0]["resolved_at"] is not None
