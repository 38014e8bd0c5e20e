"""OTLP/HTTP metrics: the official protobuf messages mapped to metric events, and the HTTP door.

The official exporter is tested in ``test_otlp_exporter.py``; here requests are built from
``opentelemetry-proto``'s messages (the contract) to pin each rule down.
"""

from __future__ import annotations

import gzip
import json
import time

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from pydantic import SecretStr

from forewarn.collect.otlp import samples_from_export_request
from forewarn.collect.receiver import create_receiver
from forewarn.events import MetricSample
from forewarn.settings import ReceiverSettings, Settings

from .running import ListPublisher, serving

pytestmark = pytest.mark.unit

NOW_NS = time.time_ns()


def attr(key: str, value: str | int) -> KeyValue:
    return KeyValue(
        key=key, value=AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
    )


def export_request(service: str | None = "checkout") -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    if service:
        resource.resource.attributes.append(attr("service.name", service))
    resource.resource.attributes.append(attr("host.name", "node-1"))
    metrics = resource.scope_metrics.add().metrics
    gauge = metrics.add(name="memory_usage", unit="1")
    point = gauge.gauge.data_points.add(as_double=0.61, time_unix_nano=NOW_NS)
    point.attributes.append(attr("pod", "checkout-1"))
    total = metrics.add(name="http.server.requests", unit="{request}")
    total.sum.is_monotonic = True
    total.sum.data_points.add(as_int=1234, time_unix_nano=NOW_NS)
    histogram = metrics.add(name="http.server.duration", unit="ms")
    histogram.histogram.data_points.add(count=3, time_unix_nano=NOW_NS)
    metrics.add(name="no.data")  # a metric with no data of a kind forewarn reads
    return request


def test_gauges_sums_and_histograms_become_metric_events_and_the_rest_is_counted_as_dropped() -> None:
    converted = samples_from_export_request(
        export_request(), service_labels=["job"], default_service="unlabelled"
    )
    samples = [e for e in converted.events if isinstance(e, MetricSample)]
    assert [(s.service, s.name, s.value, s.unit) for s in samples] == [
        ("checkout", "memory_usage", 0.61, "1"),
        ("checkout", "http.server.requests", 1234.0, "{request}"),
        ("checkout", "http.server.duration_count", 3.0, "ms"),  # no sum sent: no _sum, no _mean
    ]
    assert samples[0].labels == {"host.name": "node-1", "pod": "checkout-1"}
    assert abs(samples[0].timestamp.timestamp() - NOW_NS / 1e9) < 1e-3
    assert dict(converted.dropped) == {"unsupported_empty": 1}


def test_without_service_name_the_default_service_is_used() -> None:
    converted = samples_from_export_request(
        export_request(None), service_labels=["job"], default_service="fallback"
    )
    assert {e.service for e in converted.events} == {"fallback"}


def test_the_otlp_door_answers_with_a_partial_success_and_takes_gzip() -> None:
    settings = Settings(receiver=ReceiverSettings(keys=[SecretStr("k")]))
    publisher = ListPublisher()
    headers = {"Content-Type": "application/x-protobuf", "Authorization": "Bearer k"}
    body = export_request().SerializeToString()
    with serving(create_receiver(settings, publisher)) as url:
        plain = httpx.post(f"{url}/v1/metrics", content=body, headers=headers)
        zipped = httpx.post(
            f"{url}/v1/metrics", content=gzip.compress(body), headers={**headers, "Content-Encoding": "gzip"}
        )
        as_text = httpx.post(
            f"{url}/v1/metrics",
            content=b"x",
            headers={"Authorization": "Bearer k", "Content-Type": "text/plain"},
        )
        garbage = httpx.post(f"{url}/v1/metrics", content=b"\xff\xff", headers=headers)
        bomb = httpx.post(
            f"{url}/v1/metrics",
            content=gzip.compress(b"\0" * (settings.receiver.max_decoded_bytes + 1)),
            headers={**headers, "Content-Encoding": "gzip"},
        )
    for response in (plain, zipped):
        assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
        answer = ExportMetricsServiceResponse.FromString(response.content)
        assert answer.partial_success.rejected_data_points == 1
        assert "unsupported_empty 1" in answer.partial_success.error_message
    assert len(publisher.sent) == 6
    assert {(t, k) for t, k, _ in publisher.sent} == {
        (settings.topics.metrics, "checkout/memory_usage"),
        (settings.topics.metrics, "checkout/http.server.requests"),
        (settings.topics.metrics, "checkout/http.server.duration_count"),
    }
    assert json.loads(publisher.sent[0][2])["kind"] == "metric"
    assert (
        as_text.status_code == 415
        and "application/x-protobuf or application/json" in as_text.json()["detail"]
    )
    assert garbage.status_code == 400 and "ExportMetricsServiceRequest" in garbage.json()["detail"]
    assert bomb.status_code == 413


# -- OTLP/JSON: the same door with Content-Type application/json ---------------------------------------

# The shape of opentelemetry-proto's examples/metrics.json: lowerCamelCase keys, 64-bit integers as
# strings, the temporality enum as an integer, exemplars with hex ids, and a field this version lacks.
SPEC_SHAPED = {
    "resourceMetrics": [
        {
            "resource": {
                "attributes": [
                    {"key": "service.name", "value": {"stringValue": "checkout"}},
                    {"key": "host.name", "value": {"stringValue": "node-1"}},
                ]
            },
            "scopeMetrics": [
                {
                    "scope": {"name": "my.library", "version": "1.0.0"},
                    "metrics": [
                        {
                            "name": "memory_usage",
                            "unit": "1",
                            "gauge": {
                                "dataPoints": [
                                    {
                                        "asDouble": 0.61,
                                        "timeUnixNano": str(NOW_NS),
                                        "attributes": [
                                            {"key": "pod", "value": {"stringValue": "checkout-1"}}
                                        ],
                                        "exemplars": [
                                            {
                                                "asDouble": 0.6,
                                                "timeUnixNano": str(NOW_NS),
                                                "traceId": "5b8efff798038103d269b633813fc60c",
                                                "spanId": "eee19b7ec3c1b174",
                                            }
                                        ],
                                    }
                                ]
                            },
                        },
                        {
                            "name": "http.server.requests",
                            "unit": "{request}",
                            "sum": {
                                "aggregationTemporality": 2,
                                "isMonotonic": True,
                                "dataPoints": [
                                    {"asInt": "1234", "startTimeUnixNano": "1", "timeUnixNano": str(NOW_NS)}
                                ],
                            },
                            "someFutureField": {"ignored": True},
                        },
                        {
                            "name": "http.server.duration",
                            "histogram": {"dataPoints": [{"count": "3", "timeUnixNano": str(NOW_NS)}]},
                        },
                        {"name": "no.data"},
                    ],
                }
            ],
        }
    ]
}


def _post_json(url: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/metrics",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": "Bearer k", **headers},
    )


def test_otlp_json_gives_the_same_events_as_protobuf_and_answers_in_json() -> None:
    from google.protobuf import json_format

    settings = Settings(receiver=ReceiverSettings(keys=[SecretStr("k")]))
    publisher = ListPublisher()
    mapped = json_format.MessageToJson(export_request()).encode()  # protobuf's own JSON mapping
    with serving(create_receiver(settings, publisher)) as url:
        answers = [
            _post_json(url, mapped),
            _post_json(url, json.dumps(SPEC_SHAPED).encode()),
            _post_json(url, gzip.compress(json.dumps(SPEC_SHAPED).encode()), **{"Content-Encoding": "gzip"}),
        ]
    for response in answers:
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        partial = response.json()["partialSuccess"]
        assert int(partial["rejectedDataPoints"]) == 1 and "unsupported_empty 1" in partial["errorMessage"]
    events = [json.loads(value) for _, _, value in publisher.sent]
    assert len(events) == 9
    assert [e["name"] for e in events[2::3]] == ["http.server.duration_count"] * 3
    for first, second in (events[0:2], events[3:5], events[6:8]):
        assert (first["service"], first["name"], first["value"], first["unit"]) == (
            "checkout",
            "memory_usage",
            0.61,
            "1",
        )
        assert first["labels"] == {"host.name": "node-1", "pod": "checkout-1"}
        assert (second["name"], second["value"]) == ("http.server.requests", 1234.0)
    assert events[0]["timestamp"] == events[2]["timestamp"]  # string nanoseconds read as numbers


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not JSON"),
        (b"[1, 2]", "a JSON object is expected"),
        (b'{"resourceMetrics": 5}', "ExportMetricsServiceRequest"),
        (
            json.dumps(
                {
                    "resourceMetrics": [
                        {"scopeMetrics": [{"metrics": [{"gauge": {"dataPoints": [{"asInt": "x"}]}}]}]}
                    ]
                }
            ).encode(),
            "ExportMetricsServiceRequest",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "body is not JSON"),
    ],
)
def test_bad_otlp_json_is_a_400_that_says_why(body: bytes, reason: str) -> None:
    settings = Settings(receiver=ReceiverSettings(keys=[SecretStr("k")]))
    publisher = ListPublisher()
    with serving(create_receiver(settings, publisher)) as url:
        response = _post_json(url, body)
    assert response.status_code == 400 and reason in response.json()["detail"], response.text
    assert publisher.sent == []
