"""OpenTelemetry metrics in: an OTLP/HTTP ``ExportMetricsServiceRequest`` (protobuf or JSON) -> metric events.

The messages are the official ones from PyPI's ``opentelemetry-proto``. Each number data point of a
gauge or a sum becomes one ``MetricSample``, with the value as sent. A monotonic sum with cumulative
temporality (a counter) is marked ``cumulative``, so the dataflow models its rate; a delta sum is already
an increase per interval, and a non-monotonic sum (an up-down counter) is a level, like a gauge.
Histograms (explicit and exponential) and summaries give their count, their sum and the mean of the
observations between two points: what auto-instrumentation reports for requests (rate and duration)
arrives as histograms only. A histogram also gives its quantiles between two points (``<name>_p99``,
read as PromQL's ``histogram_quantile`` reads buckets; ``exponential_buckets`` for the exponential
kind); a summary gives those of its own quantiles that are asked for, as the client computed them.
The service is the resource's ``service.name`` (the OpenTelemetry convention), else the first
configured label a point has.

JSON (``application/json``) is OTLP's JSON encoding: protobuf's JSON mapping with lowerCamelCase keys,
enums as integers, 64-bit integers as strings or numbers, and unknown fields ignored (as the spec asks of
receivers). Its one departure from the mapping, trace and span ids in hex rather than base64, only occurs
in exemplars, which forewarn does not read: they are left out before parsing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_CUMULATIVE
from pydantic import ValidationError

from forewarn.collect.converted import Converted, NameFilter, pick_service, tame
from forewarn.collect.exponential_buckets import ExponentialPoint, QuantileReaders
from forewarn.collect.interval_means import IntervalMeans, interval_mean
from forewarn.events import MetricSample

__all__ = [
    "OtlpError",
    "decode_export_request",
    "decode_export_request_json",
    "samples_from_export_request",
]

SERVICE_NAME = "service.name"
MAX_UNIT = 32


class OtlpError(ValueError):
    """The body is not an ExportMetricsServiceRequest."""


def decode_export_request(raw: bytes) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    try:
        request.ParseFromString(raw)
    except DecodeError as exc:
        raise OtlpError(f"body is not an OTLP ExportMetricsServiceRequest: {exc}") from None
    return request


def decode_export_request_json(raw: bytes) -> ExportMetricsServiceRequest:
    """An ExportMetricsServiceRequest in OTLP's JSON encoding (see the module docstring)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise OtlpError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise OtlpError("body is not an OTLP ExportMetricsServiceRequest: a JSON object is expected")
    request = ExportMetricsServiceRequest()
    try:
        json_format.ParseDict(_without_exemplars(data), request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise OtlpError(f"body is not an OTLP ExportMetricsServiceRequest: {exc}") from None
    return request


def _without_exemplars(data: Any) -> Any:
    """``data`` without its ``exemplars`` lists (hex ids, which protobuf's JSON parser reads as base64)."""
    if isinstance(data, dict):
        return {k: _without_exemplars(v) for k, v in data.items() if k != "exemplars"}
    if isinstance(data, list):
        return [_without_exemplars(v) for v in data]
    return data


def samples_from_export_request(
    request: ExportMetricsServiceRequest,
    *,
    service_labels: Iterable[str],
    default_service: str,
    keep: Callable[[str], bool] = NameFilter(()),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    means: IntervalMeans | None = None,
    quantiles: QuantileReaders | None = None,
) -> Converted:
    """Every number a gauge, sum, histogram or summary point gives, as a ``MetricSample``.

    A histogram, exponential histogram or summary point gives ``<name>_count`` and ``<name>_sum`` (marked
    cumulative when the point is), and ``<name>_mean``, the mean of the observations since the series'
    last point (from ``means``, which remembers cumulative points; a delta point is its own interval).
    A histogram's point also gives its quantiles over that interval (``<name>_p99``, from ``quantiles``),
    a summary's point those of its quantiles that are asked for. What cannot be used is counted as
    dropped, by reason.
    """
    out = Converted()
    candidates = [SERVICE_NAME, *service_labels]
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind not in _KINDS:
                    out.drop(f"unsupported_{kind or 'empty'}", _points(metric, kind))
                    continue
                points = getattr(metric, kind).data_points
                if not keep(metric.name):
                    out.drop("filtered", len(points))
                    continue
                # forewarn's name of each number this kind of point gives, tamed once per metric
                suffixes = _SUFFIXES[kind]
                if kind in _DISTRIBUTIONS and quantiles is not None:
                    suffixes += quantiles.suffixes
                names = {suffix: tame(metric.name + suffix) for suffix in suffixes}
                if tame(metric.name) is None:
                    out.drop("bad_name", len(points))
                    continue
                unit = metric.unit[:MAX_UNIT] or None
                cumulative = _cumulative(kind, metric)
                for point in points:
                    labels = {**resource, **_attributes(point.attributes)}
                    service = pick_service(labels, candidates, default_service)
                    if service is None:
                        out.drop("bad_name")
                        continue
                    labels.pop(SERVICE_NAME, None)
                    # a histogram's or summary's series, for what needs its last point
                    series = (
                        (service, metric.name, tuple(sorted(labels.items())))
                        if kind in _DISTRIBUTIONS
                        else None
                    )
                    readings = _readings(kind, point, series, means, cumulative)
                    if kind in _DISTRIBUTIONS and quantiles is not None:
                        readings += _quantiles(kind, point, series, quantiles, cumulative)
                    for suffix, value, cumulative in readings:
                        name = names[suffix]
                        if name is None:
                            out.drop("bad_name")
                            continue
                        if not math.isfinite(value):
                            out.drop("not_finite")
                            continue
                        try:
                            when = (
                                datetime.fromtimestamp(point.time_unix_nano / 1e9, tz=UTC)
                                if point.time_unix_nano
                                else now()
                            )
                            out.events.append(
                                MetricSample(
                                    service=service,
                                    name=name,
                                    value=value,
                                    unit=unit,
                                    timestamp=when,
                                    labels=labels,
                                    cumulative=cumulative,
                                )
                            )
                        except (ValueError, OverflowError, OSError, ValidationError):
                            out.drop("bad_timestamp")
    return out


_DISTRIBUTION = ("_count", "_sum", "_mean")
_SUFFIXES = {
    "gauge": ("",),
    "sum": ("",),
    "histogram": _DISTRIBUTION,
    "exponential_histogram": _DISTRIBUTION,
    "summary": _DISTRIBUTION,
}
_KINDS = frozenset(_SUFFIXES)
_DISTRIBUTIONS = frozenset(("histogram", "exponential_histogram", "summary"))
Reading = tuple[str, float, bool]  # name suffix, value, cumulative


def _cumulative(kind: str, metric: Any) -> bool:
    """Whether a metric's points are running totals: a monotonic cumulative sum (a counter), a
    cumulative histogram, or a summary (always cumulative). A histogram's sum is monotonic by the data
    model (it is left out when negative values were recorded)."""
    if kind == "gauge":
        return False
    if kind == "summary":
        return True
    data = getattr(metric, kind)
    if kind == "sum" and not data.is_monotonic:
        return False
    return bool(data.aggregation_temporality == AGGREGATION_TEMPORALITY_CUMULATIVE)


def _readings(
    kind: str, point: Any, series: Hashable, means: IntervalMeans | None, cumulative: bool
) -> list[Reading]:
    """The numbers one data point gives; see ``samples_from_export_request``."""
    if kind == "gauge" or kind == "sum":
        value = float(point.as_double if point.WhichOneof("value") == "as_double" else point.as_int)
        return [("", value, cumulative)]
    count = float(point.count)
    readings: list[Reading] = [("_count", count, cumulative)]
    if kind != "summary" and not point.HasField("sum"):
        return readings
    total = float(point.sum)
    readings.append(("_sum", total, cumulative))
    mean = interval_mean(means, series, count, total, point.start_time_unix_nano, cumulative)
    if mean is not None:
        readings.append(("_mean", mean, False))
    return readings


def _quantiles(
    kind: str, point: Any, series: Hashable, quantiles: QuantileReaders, cumulative: bool
) -> list[Reading]:
    """A distribution point's quantiles, as readings named by their suffix (``_p99``).

    A histogram's are read from its buckets over the interval since its last point; a summary's are
    the client's own, over whatever window it keeps, and only those asked for are published.
    """
    wanted = quantiles.suffix_of
    if kind == "summary":
        return [
            (wanted[value.quantile], float(value.value), False)
            for value in point.quantile_values
            if value.quantile in wanted
        ]
    start = point.start_time_unix_nano
    if kind == "histogram":
        found = quantiles.explicit.read(
            series, tuple(point.explicit_bounds), tuple(point.bucket_counts), start, cumulative
        )
    else:
        buckets = ExponentialPoint.of(
            point.scale,
            point.zero_count,
            point.zero_threshold,
            (point.positive.offset, point.positive.bucket_counts),
            (point.negative.offset, point.negative.bucket_counts),
        )
        found = quantiles.exponential.read(series, buckets, start, cumulative)
    return [(wanted[q], value, False) for q, value in found]


def _points(metric: Any, kind: str | None) -> int:
    return len(getattr(metric, kind).data_points) if kind else 1


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, str]:
    return {pair.key: _text(pair.value) for pair in pairs}


def _text(value: AnyValue) -> str:
    """An attribute value as a label string: scalars as written, lists and maps as their short text."""
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "array_value":
        return ",".join(_text(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return ",".join(f"{kv.key}={_text(kv.value)}" for kv in value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    return str(getattr(value, kind))
