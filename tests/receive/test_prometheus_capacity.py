"""A REAL Prometheus 2.42 remote-writes absolute gauges, and forewarn forecasts them full in bytes.

Two shapes exporters use: node-exporter's pair (``node_filesystem_avail_bytes`` falling beside a
constant ``node_filesystem_size_bytes``, paired by default in ``forecast.capacities``) and a gauge with
its total in a label (``app_memory_bytes{capacity="..."}``, configured here). Both go the whole way:
scrape, remote_write (snappy + protobuf) to ``forewarn receive``, a real Kafka broker, ``forewarn run``.

The same node counts requests (a counter and a histogram): the receiver marks them cumulative, the
counter by its ``_total`` name at once, the histogram's ``_count`` once Prometheus' metadata has come,
and from then on publishes the histogram's mean between two scrapes (every request takes 50 ms here).
Its buckets give its 99th percentile between two scrapes, as Prometheus' own ``histogram_quantile``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from pydantic import SecretStr

from forewarn.dev.prometheus_server import PrometheusServer
from forewarn.kafka.io import read_topic
from forewarn.settings import ForecastSettings, GaugeCapacity, ReceiverSettings, Settings
from tests.pipeline.kafka_process import start_dataflow

from .receiver_process import start_receiver
from .running import metrics_target, real_binaries
from .test_prometheus_leak import KEY, metric_events, prometheus_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GIB = 1024**3
DISK_TOTAL = 10 * GIB
MEMORY_TOTAL = 4 * GIB


class FillingNode:
    """A disk whose free space falls from 6 GiB, an app whose memory climbs from 1 GiB: full 70 s in."""

    def __init__(self) -> None:
        self.started = time.time()

    def free_disk(self, at: float) -> float:
        return max(0.0, 6 * GIB - (6 * GIB / 70.0) * (at - self.started))

    def used_memory(self, at: float) -> float:
        return min(MEMORY_TOTAL, GIB + (3 * GIB / 70.0) * (at - self.started))

    def full_at(self) -> float:
        return self.started + 70.0

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        labels = ["device", "mountpoint"]
        size = GaugeMetricFamily("node_filesystem_size_bytes", "Filesystem size.", labels=labels)
        size.add_metric(["/dev/sda1", "/var"], DISK_TOTAL)
        avail = GaugeMetricFamily("node_filesystem_avail_bytes", "Filesystem space left.", labels=labels)
        avail.add_metric(["/dev/sda1", "/var"], self.free_disk(now))
        memory = GaugeMetricFamily("app_memory_bytes", "Memory in use.", labels=["pod", "capacity"])
        memory.add_metric(["api-0", str(MEMORY_TOTAL)], self.used_memory(now))
        served = 50.0 * (now - self.started)  # 50 requests/s
        requests = CounterMetricFamily("app_requests", "Requests served.")  # exposed as app_requests_total
        requests.add_metric([], served)
        latency = HistogramMetricFamily("app_request_seconds", "Request latency.")
        shares = (("0.05", 0.5), ("0.1", 0.9), ("0.25", 0.98), ("0.5", 1.0), ("+Inf", 1.0))
        latency.add_metric([], [(le, served * share) for le, share in shares], sum_value=served * 0.05)
        yield from (size, avail, memory, requests, latency)


@pytest.fixture
def node_target() -> Iterator[tuple[str, FillingNode]]:
    registry = CollectorRegistry()
    node = FillingNode()
    registry.register(node)
    with metrics_target(registry) as target:
        yield target, node


def test_absolute_gauges_from_a_real_prometheus_are_forecast_full(
    kafka_settings: Settings, tmp_path: Path, node_target: tuple[str, FillingNode]
) -> None:
    binary, _ = real_binaries()
    target, node = node_target
    forecast = ForecastSettings()
    forecast.capacities["app_memory_bytes"] = GaugeCapacity(label="capacity")
    settings = kafka_settings.model_copy(
        update={"receiver": ReceiverSettings(keys=[SecretStr(KEY)]), "forecast": forecast}
    )
    disk_labels = f'device="/dev/sda1",instance="{target}",job="leaky",mountpoint="/var"'
    disk = f"leaky/node_filesystem_avail_bytes{{{disk_labels}}}"
    memory = f'leaky/app_memory_bytes{{instance="{target}",job="leaky",pod="api-0"}}'
    warned: dict[str, dict[str, Any]] = {}
    with start_receiver(settings, tmp_path) as receiver, start_dataflow(settings, tmp_path) as dataflow:
        prometheus = PrometheusServer(binary, tmp_path / "prometheus", [])
        prometheus.workdir.mkdir()
        prometheus.config = prometheus_config(target, receiver.url)
        prometheus.start()
        try:
            deadline = time.monotonic() + 80
            while time.monotonic() < deadline and len(warned) < 2:
                assert dataflow.proc.poll() is None, "dataflow died:\n" + "\n".join(dataflow.lines[-30:])
                time.sleep(2)
                records = read_topic(settings.kafka.bootstrap_servers, settings.topics.detections, timeout=2)
                for d in (json.loads(r.value) for r in records):
                    if d["detection_kind"] == "exhaustion_forecast" and d["series"] in (disk, memory):
                        warned.setdefault(d["series"], d)
            log = prometheus.log_path.read_text()
            promql = prometheus.query("histogram_quantile(0.99, rate(app_request_seconds_bucket[10s]))")
        finally:
            prometheus.stop()
        counted = metric_events(settings, "app_requests_total")
        histogram_counts = metric_events(settings, "app_request_seconds_count")
        histogram_means = metric_events(settings, "app_request_seconds_mean")
        p99s = metric_events(settings, "app_request_seconds_p99")
        buckets = metric_events(settings, "app_request_seconds_bucket")
    assert set(warned) == {disk, memory}, (
        f"warned on {sorted(warned)}\nreceiver:\n" + "\n".join(receiver.lines[-10:]) + log[-1500:]
    )
    for series, total in ((disk, DISK_TOTAL), (memory, MEMORY_TOTAL)):
        warning = warned[series]
        at = datetime.fromisoformat(warning["timestamp"]).timestamp()
        figures = warning["forecast"]
        assert figures["capacity"] == total, "the total from the pair / the label is the capacity"
        assert at < node.full_at(), "warned only after it was full"
        used = total - node.free_disk(at) if series == disk else node.used_memory(at)
        assert abs(warning["value"] - used) < 0.05 * total, "the value is the bytes used"
        assert "used of" in warning["reason"] and "forecast to be full in" in warning["reason"]
        tte = figures["time_to_exhaustion_seconds"]
        left = node.full_at() - at
        assert tte is not None and 0.5 * left < tte < 2.0 * left, (series, tte, left)
        print(f"{warning['reason']} (really full in {left:.0f} s)")
    assert counted and all(e["cumulative"] for e in counted), "a _total counter is marked at once"
    assert histogram_counts and histogram_counts[-1]["cumulative"], "metadata marked the histogram's count"
    assert histogram_means, "no mean from the histogram's _sum and _count"
    assert all(abs(e["value"] - 0.05) < 1e-6 for e in histogram_means), histogram_means[:3]  # 50 ms each
    assert not any(e["cumulative"] for e in metric_events(settings, "node_filesystem_avail_bytes"))
    # 98 % of requests within 0.25 s, all within 0.5 s: the 99th percentile is halfway, 0.375 s
    (answer,) = promql["data"]["result"]
    assert float(answer["value"][1]) == pytest.approx(0.375), "Prometheus' own histogram_quantile"
    assert p99s and all(e["value"] == pytest.approx(0.375) for e in p99s), p99s[:3]
    assert not buckets, "the buckets are read for the p99, not published one by one"
