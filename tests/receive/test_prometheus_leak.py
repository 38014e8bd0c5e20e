"""A REAL Prometheus 2.42 scrapes a leaking gauge and remote-writes it to ``forewarn receive``.

The whole standard path, no part faked: Debian's Prometheus scrapes a live ``/metrics`` whose
``memory_usage`` climbs, remote-writes (snappy + protobuf, bearer key) to the receiver process, the
samples land on the metrics topic of a real Kafka broker with their labels, and ``forewarn run`` (a
separate process) forecasts the exhaustion before the gauge reaches its capacity.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from pydantic import SecretStr

from forewarn.dev.prometheus_server import PrometheusServer
from forewarn.kafka.io import read_topic
from forewarn.settings import ReceiverSettings, Settings
from tests.pipeline.kafka_process import start_dataflow

from .receiver_process import start_receiver
from .running import metrics_target, real_binaries

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "prometheus-push-key"
START = 0.30
RATE = 0.008  # per second: 0.30 -> 1.0 in 87.5 s


class LeakingGauge:
    """``memory_usage{pod="leaky-0"}``: ``start`` + ``rate`` per second since it started, with a wobble."""

    def __init__(self, start: float = START, rate: float = RATE) -> None:
        self.start = start
        self.rate = rate
        self.started = time.time()

    def value(self, at: float) -> float:
        elapsed = at - self.started
        return min(1.0, self.start + self.rate * elapsed + 0.004 * math.sin(elapsed * 1.7))

    def full_at(self) -> float:
        return self.started + (1.0 - self.start) / self.rate

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("memory_usage", "Share of memory in use.", labels=["pod"])
        family.add_metric(["leaky-0"], self.value(time.time()))
        yield family


@pytest.fixture
def leaking_target() -> Iterator[tuple[str, LeakingGauge]]:
    registry = CollectorRegistry()
    gauge = LeakingGauge()
    registry.register(gauge)
    with metrics_target(registry) as target:
        yield target, gauge


def prometheus_config(target: str, receiver_url: str) -> str:
    return f"""\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: leaky
    static_configs:
      - targets: ['{target}']
remote_write:
  - url: {receiver_url}/api/v1/write
    authorization:
      credentials: {KEY}
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
    metadata_config:
      send_interval: 2s
"""


def metric_events(settings: Settings, name: str) -> list[dict[str, Any]]:
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.metrics, timeout=5)
    events = [json.loads(r.value) for r in records]
    return [e for e in events if e.get("name") == name]


def test_a_real_prometheus_remote_writes_a_leak_and_forewarn_forecasts_it(
    kafka_settings: Settings, tmp_path: Path, leaking_target: tuple[str, LeakingGauge]
) -> None:
    binary, _ = real_binaries()
    target, gauge = leaking_target
    settings = kafka_settings.model_copy(update={"receiver": ReceiverSettings(keys=[SecretStr(KEY)])})
    with start_receiver(settings, tmp_path) as receiver, start_dataflow(settings, tmp_path) as dataflow:
        prometheus = PrometheusServer(binary, tmp_path / "prometheus", [])
        prometheus.workdir.mkdir()
        prometheus.config = prometheus_config(target, receiver.url)
        prometheus.start()
        try:
            deadline = time.monotonic() + 90
            arrived: list[dict[str, Any]] = []
            warnings: list[dict[str, Any]] = []
            while time.monotonic() < deadline and not warnings:
                assert dataflow.proc.poll() is None, "dataflow died:\n" + "\n".join(dataflow.lines[-30:])
                time.sleep(2)
                arrived = metric_events(settings, "memory_usage")
                records = read_topic(settings.kafka.bootstrap_servers, settings.topics.detections, timeout=2)
                warnings = [
                    d
                    for d in (json.loads(r.value) for r in records)
                    if d["detection_kind"] == "exhaustion_forecast"
                    # labels are part of the series (pipeline.cardinality.series_name)
                    and d["series"] == f'leaky/memory_usage{{instance="{target}",job="leaky",pod="leaky-0"}}'
                ]
            log = prometheus.log_path.read_text()
        finally:
            prometheus.stop()
    assert arrived, "no memory_usage sample reached Kafka:\n" + "\n".join(receiver.lines[-20:]) + log[-2000:]
    first = arrived[0]
    assert (first["kind"], first["service"]) == ("metric", "leaky")
    assert first["labels"] == {"job": "leaky", "instance": target, "pod": "leaky-0"}
    values = [e["value"] for e in arrived]
    assert values[-1] > values[0], "the samples should climb as the gauge does"
    assert all(abs(e["value"] - gauge.value(_epoch(e["timestamp"]))) < 0.02 for e in arrived)
    assert warnings, f"no exhaustion forecast after {len(arrived)} samples up to {values[-1]:.2f}"
    warning = warnings[0]
    assert _epoch(warning["timestamp"]) < gauge.full_at(), "warned only after the gauge was full"
    figures = warning["forecast"]
    assert figures["breach_probability"] >= 0.5 and figures["capacity"] == 1.0
    assert figures["time_to_exhaustion_seconds"] is not None
    left = gauge.full_at() - _epoch(warning["timestamp"])
    print(
        f"warned at {warning['timestamp']} (value {warning['value']:.2f}) after {len(arrived)} samples; "
        f"predicted full in {figures['time_to_exhaustion_seconds']:.0f} s, really in {left:.0f} s"
    )


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()
