"""The official OpenTelemetry SDK and OTLP/HTTP exporter push metrics to ``forewarn receive``.

Real sender, real socket: ``opentelemetry-sdk`` records a gauge, an up-down counter, a counter and a
histogram, and ``opentelemetry-exporter-otlp-proto-http`` posts them (protobuf, bearer key in its
headers) to the receiver app, which turns them into metric events: the counter marked cumulative, the
histogram as its count, its sum and the mean of the requests between two exports. Kafka is a list
here; the path to a real broker is the same publisher ``test_prometheus_leak.py`` runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from pydantic import SecretStr

from forewarn.collect.receiver import create_receiver
from forewarn.settings import ReceiverSettings, Settings

from .running import ListPublisher, serving

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_the_official_otlp_exporter_delivers_gauges_sums_and_histograms(compression: Compression) -> None:
    settings = Settings(receiver=ReceiverSettings(keys=[SecretStr("otlp-key")]))
    publisher = ListPublisher()
    with serving(create_receiver(settings, publisher)) as url:
        exporter = OTLPMetricExporter(
            endpoint=f"{url}/v1/metrics",
            headers={"Authorization": "Bearer otlp-key"},
            compression=compression,
        )
        results: list[MetricExportResult] = []
        export = exporter.export

        def recording(*args: object, **kwargs: object) -> MetricExportResult:
            results.append(export(*args, **kwargs))  # type: ignore[arg-type]
            return results[-1]

        exporter.export = recording  # type: ignore[method-assign]
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
        provider = MeterProvider(
            resource=Resource.create({"service.name": "checkout", "deployment.environment": "test"}),
            metric_readers=[reader],
            # one histogram in base-2 exponential buckets, as a team may configure its SDK
            views=[View(instrument_name="rpc.duration", aggregation=ExponentialBucketHistogramAggregation())],
        )
        meter = provider.get_meter("forewarn-test")

        def memory(_: CallbackOptions) -> Iterable[Observation]:
            yield Observation(0.73, {"pod": "checkout-1"})

        meter.create_observable_gauge("memory_usage", callbacks=[memory], unit="1")
        meter.create_up_down_counter("queue_depth").add(12, {"queue": "emails"})
        meter.create_counter("orders").add(3)
        duration = meter.create_histogram("http.server.duration", unit="ms")
        rpc = meter.create_histogram("rpc.duration", unit="ms")
        for ms in (100.0, 300.0, 200.0):
            duration.record(ms, {"http.route": "/checkout"})
            rpc.record(ms)
        provider.force_flush()  # the first export: the histogram's totals since its start
        for ms in (1000.0, 1000.0):
            duration.record(ms, {"http.route": "/checkout"})
            rpc.record(ms)
        provider.force_flush()  # the second: two requests of 1 s since the first
        provider.shutdown()
    assert results and all(r is MetricExportResult.SUCCESS for r in results)
    sent = [json.loads(v) for _, _, v in publisher.sent]
    means = [e["value"] for e in sent if e["name"] == "http.server.duration_mean"]
    assert means == [1000.0], "the mean of the requests between the two exports"
    events = {e["name"]: e for e in sent}  # the last of each name
    assert set(events) == {
        "memory_usage",
        "queue_depth",
        "orders",
        "http.server.duration_count",
        "http.server.duration_sum",
        "http.server.duration_mean",
        "http.server.duration_p99",
        "rpc.duration_count",
        "rpc.duration_sum",
        "rpc.duration_mean",
        "rpc.duration_p99",
    }
    # the SDK's default bounds put both 1 s requests in (750, 1000] ms: the 99th percentile is 99 % into it
    p99s = [e["value"] for e in sent if e["name"] == "http.server.duration_p99"]
    assert p99s == [pytest.approx(997.5)], "PromQL's histogram_quantile over the second interval"
    # in exponential buckets, the p99 of the two 1 s requests is 99 % into 1 s's bucket, at the scale the
    # SDK chose for 100..1000 ms in its 160 buckets (5: 32 buckets per doubling; (980.6, 1002.1] ms)
    rpc_p99s = [e["value"] for e in sent if e["name"] == "rpc.duration_p99"]
    lower, upper = 2 ** (318 / 32), 2 ** (319 / 32)
    assert rpc_p99s == [pytest.approx(lower + 0.99 * (upper - lower))], "the second interval's p99"
    assert (events["http.server.duration_count"]["value"], events["http.server.duration_sum"]["value"]) == (
        5.0,
        2600.0,
    )
    assert events["http.server.duration_mean"]["labels"]["http.route"] == "/checkout"
    cumulative = {name for name, e in events.items() if e["cumulative"]}
    assert cumulative == {
        "orders",
        "http.server.duration_count",
        "http.server.duration_sum",
        "rpc.duration_count",
        "rpc.duration_sum",
    }
    assert {e["service"] for e in events.values()} == {"checkout"}
    assert events["memory_usage"]["value"] == 0.73 and events["memory_usage"]["unit"] == "1"
    assert events["memory_usage"]["labels"]["pod"] == "checkout-1"
    assert events["memory_usage"]["labels"]["deployment.environment"] == "test"
    assert (events["queue_depth"]["value"], events["orders"]["value"]) == (12.0, 3.0)
    assert {t for t, _, _ in publisher.sent} == {settings.topics.metrics}
