"""OTLP histograms and summaries: their count, sum and the mean of each interval become metric events.

Built from ``opentelemetry-proto``'s messages (the contract); the official SDK sending a histogram
across two exports is in ``test_otlp_exporter.py``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    AGGREGATION_TEMPORALITY_DELTA,
)

from forewarn.collect.exponential_buckets import QuantileReaders
from forewarn.collect.interval_means import IntervalMeans
from forewarn.collect.otlp import samples_from_export_request
from forewarn.events import MetricSample

pytestmark = pytest.mark.unit

NOW_NS = time.time_ns()
START_NS = NOW_NS - 3_600 * 10**9


def request_with(
    kind: str, *points: dict[str, Any], temporality: int = AGGREGATION_TEMPORALITY_CUMULATIVE
) -> Any:
    request = ExportMetricsServiceRequest()
    metric = (
        request.resource_metrics.add().scope_metrics.add().metrics.add(name="http.server.duration", unit="s")
    )
    data = getattr(metric, kind)
    if kind != "summary":
        data.aggregation_temporality = temporality
    for fields in points:
        point = data.data_points.add(**{"time_unix_nano": NOW_NS, "start_time_unix_nano": START_NS, **fields})
        point.attributes.add(key="http.route").value.string_value = "/checkout"
    return request


def convert(
    request: Any, means: IntervalMeans | None = None, quantiles: QuantileReaders | None = None
) -> dict[str, MetricSample]:
    converted = samples_from_export_request(
        request, service_labels=[], default_service="web", means=means, quantiles=quantiles
    )
    assert not converted.dropped
    return {e.name: e for e in converted.events if isinstance(e, MetricSample)}


def test_a_cumulative_histogram_gives_its_count_and_sum_as_counters_and_the_interval_mean() -> None:
    means = IntervalMeans()
    first = convert(request_with("histogram", {"count": 10, "sum": 2.0}), means)
    assert {n: (e.value, e.cumulative) for n, e in first.items()} == {
        "http.server.duration_count": (10.0, True),
        "http.server.duration_sum": (2.0, True),
    }, "a first point's totals may span days: no mean from it"
    assert first["http.server.duration_count"].labels == {"http.route": "/checkout"}
    assert first["http.server.duration_sum"].unit == "s"
    second = convert(request_with("histogram", {"count": 14, "sum": 4.0}), means)
    mean = second["http.server.duration_mean"]
    assert (mean.value, mean.cumulative, mean.unit) == (0.5, False, "s")  # 4 requests took 2.0 s
    idle = convert(request_with("histogram", {"count": 14, "sum": 4.0}), means)
    assert "http.server.duration_mean" not in idle, "no request in the interval: no mean"


def test_the_interval_mean_is_kept_per_series() -> None:
    means = IntervalMeans()
    convert(request_with("histogram", {"count": 10, "sum": 2.0}), means)
    other = request_with("histogram", {"count": 100, "sum": 90.0})
    other.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0].attributes[
        0
    ].value.string_value = "/search"
    assert "http.server.duration_mean" not in convert(other, means), "another route is another series"
    assert convert(request_with("histogram", {"count": 12, "sum": 3.0}), means)[
        "http.server.duration_mean"
    ].value == pytest.approx(0.5)


def test_a_delta_histogram_is_its_own_interval() -> None:
    delta = AGGREGATION_TEMPORALITY_DELTA
    events = convert(request_with("histogram", {"count": 4, "sum": 1.0}, temporality=delta))
    assert {n: (e.value, e.cumulative) for n, e in events.items()} == {
        "http.server.duration_count": (4.0, False),
        "http.server.duration_sum": (1.0, False),
        "http.server.duration_mean": (0.25, False),
    }
    empty = convert(request_with("histogram", {"count": 0, "sum": 0.0}, temporality=delta))
    assert set(empty) == {"http.server.duration_count", "http.server.duration_sum"}


def test_exponential_histograms_and_summaries_give_the_same_three() -> None:
    for kind in ("exponential_histogram", "summary"):
        means = IntervalMeans()
        convert(request_with(kind, {"count": 5, "sum": 1.0}), means)
        events = convert(request_with(kind, {"count": 7, "sum": 2.0}), means)
        assert {n: (e.value, e.cumulative) for n, e in events.items()} == {
            "http.server.duration_count": (7.0, True),
            "http.server.duration_sum": (2.0, True),
            "http.server.duration_mean": (0.5, False),
        }, kind


def test_a_name_too_long_with_a_suffix_is_dropped_and_counted() -> None:
    request = request_with("histogram", {"count": 1, "sum": 1.0})
    request.resource_metrics[0].scope_metrics[0].metrics[0].name = "x" * 60  # 64 characters at most
    converted = samples_from_export_request(request, service_labels=[], default_service="web")
    assert [e.name for e in converted.events if isinstance(e, MetricSample)] == ["x" * 60 + "_sum"]
    assert dict(converted.dropped) == {"bad_name": 1}, "_count made it 66 characters"


def _p99(quantiles: QuantileReaders, counts: list[int], **fields: Any) -> float | None:
    temporality = fields.pop("temporality", AGGREGATION_TEMPORALITY_CUMULATIVE)
    point = {"count": sum(counts), "sum": 1.0, "explicit_bounds": [0.1, 0.5, 1.0], "bucket_counts": counts}
    events = convert(
        request_with("histogram", {**point, **fields}, temporality=temporality), quantiles=quantiles
    )
    found = events.get("http.server.duration_p99")
    assert found is None or (found.cumulative, found.unit, found.labels) == (
        False,
        "s",
        {"http.route": "/checkout"},
    )
    return None if found is None else round(found.value, 9)


def test_explicit_buckets_give_the_interval_p99() -> None:
    quantiles = QuantileReaders([0.99])
    assert _p99(quantiles, [5, 5, 0, 0]) is None, "a first cumulative point may span days"
    assert _p99(quantiles, [50, 45, 5, 0]) == 0.91, "45, 40 and 5 since: 99 % is 82 % into (0.5, 1]"
    assert _p99(quantiles, [50, 45, 5, 0]) is None, "no request since"
    assert _p99(quantiles, [1, 1, 0, 0], start_time_unix_nano=NOW_NS - 10**9) == 0.492, "restarted: its 2"
    assert _p99(quantiles, [0, 0, 0, 2], temporality=AGGREGATION_TEMPORALITY_DELTA) == 1.0, "in +Inf: 1.0"


def test_changed_bounds_give_no_quantile() -> None:
    quantiles = QuantileReaders([0.99])
    _p99(quantiles, [5, 5, 0, 0])
    assert _p99(quantiles, [9, 9, 9], explicit_bounds=[0.1, 0.5]) is None, "not across two layouts"
    assert _p99(quantiles, [9, 9, 9], explicit_bounds=[0.1, 0.5, 1.0]) is None, "a shape the model forbids"


def _exponential(
    quantiles: QuantileReaders, scale: int, offset: int, counts: list[int], zero: int = 0, **fields: Any
) -> dict[str, float]:
    point = {
        "count": sum(counts) + zero,
        "sum": 1.0,
        "scale": scale,
        "zero_count": zero,
        "positive": {"offset": offset, "bucket_counts": counts},
        **fields,
    }
    events = convert(request_with("exponential_histogram", point), quantiles=quantiles)
    return {n: round(e.value, 6) for n, e in events.items() if "_p" in n}


def test_exponential_buckets_give_the_interval_quantiles() -> None:
    quantiles = QuantileReaders([0.5, 0.99])
    # scale 1: base sqrt(2); bucket i holds (2^(i/2), 2^((i+1)/2)]
    assert _exponential(quantiles, 1, 2, [10, 0, 0]) == {}, "a first cumulative point may span days"
    later = _exponential(quantiles, 1, 2, [10, 0, 100])
    # the interval's 100 values are all in bucket 4, (4, 5.657]: its median and 99th percentile
    top = 2**2.5
    assert later == {
        "http.server.duration_p50": pytest.approx(4 + (top - 4) * 0.5, abs=1e-6),
        "http.server.duration_p99": pytest.approx(4 + (top - 4) * 0.99, abs=1e-6),
    }
    assert _exponential(quantiles, 1, 2, [10, 0, 100]) == {}, "no request since"


def test_a_lower_scale_merges_neighbouring_buckets_before_the_increase() -> None:
    quantiles = QuantileReaders([0.99])
    _exponential(quantiles, 1, 2, [10, 0, 0])  # 10 values in (2, 2.83], bucket 2 at scale 1
    # the SDK lowered the scale to 0 (base 2): that bucket is now bucket 1, (2, 4], with 10 more
    # values, and 90 new ones are in bucket 3, (8, 16]
    found = _exponential(quantiles, 0, 1, [20, 0, 90])
    assert found == {"http.server.duration_p99": pytest.approx(8 + 8 * (99 - 10) / 90, abs=1e-6)}


def test_the_zero_bucket_and_a_restart() -> None:
    quantiles = QuantileReaders([0.5])
    _exponential(quantiles, 0, 0, [1], zero=0)
    assert _exponential(quantiles, 0, 0, [1], zero=9) == {"http.server.duration_p50": 0.0}, "9 zeros since"
    restarted = _exponential(quantiles, 0, 0, [4], start_time_unix_nano=NOW_NS - 10**9)
    assert restarted == {"http.server.duration_p50": 1.5}, "a new start: its 4 values in (1, 2]"


def test_a_summary_gives_the_quantiles_asked_for_as_it_computed_them() -> None:
    quantiles = QuantileReaders([0.5, 0.99])
    point = {
        "count": 100,
        "sum": 30.0,
        "quantile_values": [
            {"quantile": 0.5, "value": 0.2},
            {"quantile": 0.9, "value": 0.7},
            {"quantile": 0.99, "value": 1.4},
        ],
    }
    events = convert(request_with("summary", point), quantiles=quantiles)
    assert {n: (e.value, e.cumulative) for n, e in events.items() if "_p" in n} == {
        "http.server.duration_p50": (0.2, False),
        "http.server.duration_p99": (1.4, False),
    }, "its p90 was not asked for"
