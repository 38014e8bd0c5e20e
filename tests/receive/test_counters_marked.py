"""The receivers mark cumulative counters, so the dataflow models their rate.

OTLP says it per metric (a monotonic sum with cumulative temporality). remote_write says it per family,
in metadata that Prometheus sends apart from the samples; until then a ``_total`` name is a counter.
A real Prometheus doing both is in ``test_prometheus_capacity.py``.
"""

from __future__ import annotations

import json

import cramjam
import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    AGGREGATION_TEMPORALITY_DELTA,
)

from forewarn.collect.metric_types import COUNTER, GAUGE, HISTOGRAM, SUMMARY, MetricTypes
from forewarn.collect.otlp import samples_from_export_request
from forewarn.collect.remote_write import WriteRequest
from forewarn.events import MetricSample

from .running import ListPublisher
from .test_otlp import NOW_NS
from .test_remote_write import HEADERS, NOW_MS, convert, receiver, write_request

pytestmark = pytest.mark.unit
__all__ = ["receiver"]  # the fixture, imported for the door tests


def test_otlp_marks_only_monotonic_cumulative_sums() -> None:
    request = ExportMetricsServiceRequest()
    metrics = request.resource_metrics.add().scope_metrics.add().metrics
    shapes = {
        "requests": (True, AGGREGATION_TEMPORALITY_CUMULATIVE),  # a Counter
        "requests_delta": (True, AGGREGATION_TEMPORALITY_DELTA),  # already an increase per interval
        "connections_open": (False, AGGREGATION_TEMPORALITY_CUMULATIVE),  # an UpDownCounter: a level
    }
    for name, (monotonic, temporality) in shapes.items():
        metric = metrics.add(name=name)
        metric.sum.is_monotonic = monotonic
        metric.sum.aggregation_temporality = temporality
        metric.sum.data_points.add(as_int=7, time_unix_nano=NOW_NS)
    metrics.add(name="memory_usage").gauge.data_points.add(as_double=0.5, time_unix_nano=NOW_NS)
    converted = samples_from_export_request(request, service_labels=[], default_service="web")
    marked = {e.name: e.cumulative for e in converted.events if isinstance(e, MetricSample)}
    assert marked == {
        "requests": True,
        "requests_delta": False,
        "connections_open": False,
        "memory_usage": False,
    }


def test_remote_write_marks_what_the_caller_says_is_a_counter() -> None:
    body = write_request(
        ({"__name__": "http_requests_total", "job": "web"}, [(10.0, NOW_MS)]),
        ({"__name__": "job:http_requests_total:rate5m", "job": "web"}, [(3.0, NOW_MS)]),
        ({"__name__": "memory_usage", "job": "web"}, [(0.5, NOW_MS)]),
    )
    samples, _ = convert(body, is_cumulative=MetricTypes(["_total"]).is_cumulative)
    assert {s.name: s.cumulative for s in samples} == {
        "http_requests_total": True,
        "job_http_requests_total_rate5m": False,  # a recording rule's rate is a rate already
        "memory_usage": False,
    }
    samples, _ = convert(body)
    assert not any(s.cumulative for s in samples), "without a rule nothing is marked"


def test_metadata_names_each_sample_of_a_family_and_wins_over_the_suffix() -> None:
    types = MetricTypes(["_total"])
    types.learn("requests", COUNTER)  # OpenMetrics' family name: samples are requests_total
    types.learn("latency_seconds", HISTOGRAM)
    types.learn("rpc_seconds", SUMMARY)
    types.learn("queue_items_total", GAUGE)  # a gauge with a counter's name
    types.learn("odd", 99)  # a type newer than this code tells nothing
    cumulative = {
        name: types.is_cumulative(name)
        for name in (
            "requests_total",
            "latency_seconds_count",
            "latency_seconds_sum",
            "latency_seconds_bucket",
            "rpc_seconds_count",
            "rpc_seconds",
            "queue_items_total",
            "odd",
            "odd_total",
        )
    }
    assert cumulative == {
        "requests_total": True,
        "latency_seconds_count": True,
        "latency_seconds_sum": True,
        "latency_seconds_bucket": True,
        "rpc_seconds_count": True,
        "rpc_seconds": False,  # a summary's quantiles are levels
        "queue_items_total": False,
        "odd": False,
        "odd_total": True,
    }
    assert not MetricTypes([]).is_cumulative("requests_total"), "no suffixes: only metadata decides"


def test_the_oldest_described_names_are_forgotten_past_the_limit() -> None:
    types = MetricTypes([], limit=4)
    types.learn("a", HISTOGRAM)  # a_count, a_sum, a_bucket
    types.learn("b", COUNTER)  # b, b_total: a_count and a_sum go
    assert len(types) == 4
    assert not types.is_cumulative("a_count") and types.is_cumulative("a_bucket")
    assert types.is_cumulative("b_total")


def _push(url: str, body: bytes) -> None:
    response = httpx.post(f"{url}/api/v1/write", content=body, headers=HEADERS)
    assert response.status_code == 204, response.text


def _metadata(*families: tuple[int, str]) -> bytes:
    """A request of metadata only, as Prometheus sends it apart from the samples."""
    request = WriteRequest()
    for kind, family in families:
        request.metadata.add(type=kind, metric_family_name=family, help=f"{family}.")
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def test_the_remote_write_door_remembers_metadata_sent_apart_from_samples(
    receiver: tuple[str, ListPublisher],
) -> None:
    url, publisher = receiver
    samples = write_request(
        ({"__name__": "latency_seconds_count", "job": "web"}, [(40.0, NOW_MS)]),
        ({"__name__": "queue_items_total", "job": "web"}, [(5.0, NOW_MS)]),
    )
    _push(url, samples)
    _push(url, _metadata((HISTOGRAM, "latency_seconds"), (GAUGE, "queue_items_total")))
    _push(url, samples)
    sent = [json.loads(value) for _, _, value in publisher.sent]
    marks = [(e["name"], e["cumulative"]) for e in sent]
    assert marks == [
        ("latency_seconds_count", False),  # before the metadata: not a _total name
        ("queue_items_total", True),  # before the metadata: the suffix rule
        ("latency_seconds_count", True),
        ("queue_items_total", False),
    ]


def test_a_histograms_count_and_sum_give_its_mean_once_its_metadata_has_come(
    receiver: tuple[str, ListPublisher],
) -> None:
    """Prometheus' shards may send a scrape's _count and _sum in different requests: they are paired."""
    url, publisher = receiver
    labels = {"job": "web", "route": "/checkout"}

    def push(*series: tuple[dict[str, str], list[tuple[float, int]]]) -> None:
        _push(url, write_request(*series))

    def part(name: str, value: float, at: int) -> tuple[dict[str, str], list[tuple[float, int]]]:
        return {"__name__": name, **labels}, [(value, NOW_MS + at)]

    push(part("latency_seconds_count", 10.0, 0), part("latency_seconds_sum", 2.0, 0))  # no metadata yet
    _push(url, _metadata((HISTOGRAM, "latency_seconds")))
    push(
        part("latency_seconds_count", 14.0, 15_000), part("latency_seconds_sum", 4.0, 15_000)
    )  # the first pair
    push(part("latency_seconds_count", 20.0, 30_000))  # half a scrape...
    push(part("latency_seconds_sum", 4.3, 30_000))  # ...and its other half, in another request
    push(part("latency_seconds_count", 25.0, 45_000))  # a half whose other half never comes
    push(part("latency_seconds_count", 30.0, 60_000), part("latency_seconds_sum", 5.3, 60_000))
    means = [json.loads(v) for _, _, v in publisher.sent if json.loads(v)["name"] == "latency_seconds_mean"]
    assert [round(m["value"], 6) for m in means] == [0.05, 0.1]  # 0.3 s over 6, then 1.0 s over 10
    assert means[0]["labels"] == labels and not means[0]["cumulative"]
    sums = [json.loads(v) for _, _, v in publisher.sent if json.loads(v)["name"] == "latency_seconds_sum"]
    assert [m["timestamp"] for m in means] == [
        sums[2]["timestamp"],
        sums[3]["timestamp"],
    ]  # the scrapes' times
