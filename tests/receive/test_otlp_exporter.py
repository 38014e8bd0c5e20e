"""The official OpenTelemetry SDK and OTLP/HTTP exporter push metrics to ``forewarn receive``.

Real sender, real socket: ``opentelemetry-sdk`` records a gauge, an up-down counter and a counter,
and ``opentelemetry-exporter-otlp-proto-http`` posts them (protobuf, bearer key in its headers) to
the receiver app, which turns gauges and sums into metric events. Kafka is a list here; the path to
a real broker is the same publisher ``test_prometheus_leak.py`` runs.
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
from opentelemetry.sdk.resources import Resource
from pydantic import SecretStr

from forewarn.collect.receiver import create_receiver
from forewarn.settings import ReceiverSettings, Settings

from .running import ListPublisher, serving

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_the_official_otlp_exporter_delivers_gauges_and_sums(compression: Compression) -> None:
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
        )
        meter = provider.get_meter("forewarn-test")

        def memory(_: CallbackOptions) -> Iterable[Observation]:
            yield Observation(0.73, {"pod": "checkout-1"})

        meter.create_observable_gauge("memory_usage", callbacks=[memory], unit="1")
        meter.create_up_down_counter("queue_depth").add(12, {"queue": "emails"})
        meter.create_counter("orders").add(3)
        provider.force_flush()
        provider.shutdown()
    assert results and all(r is MetricExportResult.SUCCESS for r in results)
    events = {json.loads(v)["name"]: json.loads(v) for _, _, v in publisher.sent}
    assert set(events) == {"memory_usage", "queue_depth", "orders"}
    assert {e["service"] for e in events.values()} == {"checkout"}
    assert events["memory_usage"]["value"] == 0.73 and events["memory_usage"]["unit"] == "1"
    assert events["memory_usage"]["labels"]["pod"] == "checkout-1"
    assert events["memory_usage"]["labels"]["deployment.environment"] == "test"
    assert (events["queue_depth"]["value"], events["orders"]["value"]) == (12.0, 3.0)
    assert {t for t, _, _ in publisher.sent} == {settings.topics.metrics}
