"""A REAL Prometheus 2.42 scrapes a native histogram and remote-writes it: forewarn reads its p99.

Native histograms are exposed only in Prometheus' protobuf format, which ``prometheus_client`` does not
serve, so the target here writes ``io.prometheus.client.MetricFamily`` messages itself (length-delimited,
as Prometheus asks for them). Every scrape adds 98 requests in (0.125, 0.25] s and 2 in (0.25, 0.5] s:
the 99th percentile of any interval is halfway into the second bucket, 0.375 s, and Prometheus' own
``histogram_quantile`` over the native histogram is the check that the buckets were read as it reads them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from forewarn.collect.proto_messages import FIELD, Field, message_classes
from forewarn.collect.receiver import create_receiver
from forewarn.dev.prometheus_server import PrometheusServer
from forewarn.settings import ReceiverSettings, Settings

from .running import ListPublisher, http_target, real_binaries, serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "native-key"
PROTOBUF = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"


def _metric_family_class() -> Any:
    """``io.prometheus.client.MetricFamily`` with only what a native histogram needs (metrics.proto)."""
    F = FIELD
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    shapes: dict[str, list[Field]] = {
        "BucketSpan": [("offset", 1, F.TYPE_SINT32, opt, ""), ("length", 2, F.TYPE_UINT32, opt, "")],
        "Histogram": [
            ("sample_count", 1, F.TYPE_UINT64, opt, ""),
            ("sample_sum", 2, F.TYPE_DOUBLE, opt, ""),
            ("schema", 5, F.TYPE_SINT32, opt, ""),
            ("zero_threshold", 6, F.TYPE_DOUBLE, opt, ""),
            ("zero_count", 7, F.TYPE_UINT64, opt, ""),
            ("positive_span", 12, F.TYPE_MESSAGE, rep, ".io.prometheus.client.BucketSpan"),
            ("positive_delta", 13, F.TYPE_SINT64, rep, ""),
        ],
        "Metric": [("histogram", 7, F.TYPE_MESSAGE, opt, ".io.prometheus.client.Histogram")],
        "MetricFamily": [
            ("name", 1, F.TYPE_STRING, opt, ""),
            ("help", 2, F.TYPE_STRING, opt, ""),
            ("type", 3, F.TYPE_INT32, opt, ""),  # MetricType.HISTOGRAM = 4
            ("metric", 4, F.TYPE_MESSAGE, rep, ".io.prometheus.client.Metric"),
        ],
    }
    return message_classes("test_metrics.proto", "io.prometheus.client", shapes)["MetricFamily"]


MetricFamily = _metric_family_class()


class NativeTarget:
    """Each scrape: 98 more requests in Prometheus' bucket -2, (0.125, 0.25], and 2 in bucket -1."""

    def __init__(self) -> None:
        self.fast = self.slow = 0
        self.lock = threading.Lock()

    def body(self) -> bytes:
        with self.lock:
            self.fast, self.slow = self.fast + 98, self.slow + 2
            fast, slow = self.fast, self.slow
        family = MetricFamily(name="app_native_seconds", help="Request latency.", type=4)
        histogram = family.metric.add().histogram
        histogram.sample_count = fast + slow
        histogram.sample_sum = 0.2 * fast + 0.4 * slow
        histogram.schema = 0  # base 2
        histogram.zero_threshold = 2.0**-128
        histogram.positive_span.add(offset=-2, length=2)
        histogram.positive_delta.extend([fast, slow - fast])  # each bucket as the change from the last
        raw: bytes = family.SerializeToString()
        return varint(len(raw)) + raw


def varint(n: int) -> bytes:
    """Protobuf's varint: the length before each message of a delimited stream."""
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes([*out, n])


@pytest.fixture
def native_target() -> Iterator[str]:
    target = NativeTarget()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = target.body()
            self.send_response(200)
            self.send_header("Content-Type", PROTOBUF)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    with http_target(Handler) as address:
        yield address


def test_a_native_histogram_from_a_real_prometheus_gives_its_p99(native_target: str, tmp_path: Path) -> None:
    binary, _ = real_binaries()
    settings = Settings(receiver=ReceiverSettings(keys=[SecretStr(KEY)], histogram_quantiles=[0.5, 0.99]))
    publisher = ListPublisher()
    with serving(create_receiver(settings, publisher)) as url:
        prometheus = PrometheusServer(
            binary, tmp_path / "prometheus", [], flags=["--enable-feature=native-histograms"]
        )
        prometheus.workdir.mkdir()
        prometheus.config = f"""\
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: native
    static_configs:
      - targets: ['{native_target}']
remote_write:
  - url: {url}/api/v1/write
    authorization:
      credentials: {KEY}
    send_native_histograms: true
    queue_config:
      batch_send_deadline: 1s
"""
        prometheus.start()
        try:
            deadline = time.monotonic() + 60

            def named(name: str) -> list[dict[str, Any]]:
                events = (json.loads(v) for _, _, v in list(publisher.sent))
                return [e for e in events if e["name"] == name]

            while time.monotonic() < deadline and len(named("app_native_seconds_p99")) < 3:
                time.sleep(1)
            promql = prometheus.query("histogram_quantile(0.99, rate(app_native_seconds[10s]))")
        finally:
            prometheus.stop()
    p99s, p50s = named("app_native_seconds_p99"), named("app_native_seconds_p50")
    counts, means = named("app_native_seconds_count"), named("app_native_seconds_mean")
    assert len(p99s) >= 3, (
        f"{len(publisher.sent)} events; prometheus:\n{prometheus.log_path.read_text()[-2000:]}"
    )
    (answer,) = promql["data"]["result"]
    assert float(answer["value"][1]) == pytest.approx(0.375), "Prometheus' own histogram_quantile"
    assert all(e["value"] == pytest.approx(0.375) for e in p99s), p99s[:3]
    # the median: rank 50 of the interval's 100 is 50/98 into (0.125, 0.25]
    assert all(e["value"] == pytest.approx(0.125 + 0.125 * 50 / 98) for e in p50s), p50s[:3]
    assert counts and all(e["cumulative"] for e in counts), "a counter histogram's count is cumulative"
    assert means and all(e["value"] == pytest.approx(0.204) for e in means), "(98 x 0.2 + 2 x 0.4) / 100"
    assert all(e["labels"] == {"instance": native_target, "job": "native"} for e in p99s)
