"""Prometheus remote_write in: a snappy-compressed ``prometheus.WriteRequest`` -> metric events.

The wire format (remote write 1.0, what Prometheus 2.x sends): the body is protobuf, compressed
with snappy's *block* format (not the framed one), with ``Content-Encoding: snappy``. The messages
are a subset of Prometheus' ``prompb/types.proto`` and ``remote.proto``::

    message WriteRequest { repeated TimeSeries timeseries = 1; reserved 2;
                           repeated MetricMetadata metadata = 3; }
    message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
                           repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
    // Histogram and BucketSpan (native histograms): see native_histograms.py
    message Label        { string name = 1; string value = 2; }
    message Sample       { double value = 1; int64 timestamp = 2; }  // timestamp: ms since the epoch
    message MetricMetadata { MetricType type = 1; string metric_family_name = 2; string help = 4;
                             string unit = 5; }   // the enum read as its number

Why a descriptor built here (``proto_messages``) rather than generated ``_pb2`` code: the official
protobuf runtime parses the bytes (no hand-written wire decoder), while no protoc run, generated file
or gencode / runtime version pairing has to be kept in step. Fields left out (exemplars) are skipped
by the parser as unknown fields, as protobuf intends.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import cramjam
from google.protobuf.message import DecodeError
from pydantic import ValidationError

from forewarn.collect.converted import Converted, NameFilter, pick_service, tame
from forewarn.collect.exponential_buckets import QuantileReaders
from forewarn.collect.histogram_buckets import BucketQuantiles, quantile_name
from forewarn.collect.histogram_pairs import HistogramPairs
from forewarn.collect.interval_means import interval_mean
from forewarn.collect.metric_types import MetricTypes
from forewarn.collect.native_histograms import native_shapes, read_native
from forewarn.collect.proto_messages import FIELD, Field, message_classes
from forewarn.events import MetricSample

__all__ = [
    "WriteRequest",
    "WriteRequestError",
    "decode_write_request",
    "learn_metadata",
    "samples_from_write_request",
]


class WriteRequestError(ValueError):
    """The body is not a snappy-compressed WriteRequest; the message says what failed."""


def _message_classes() -> dict[str, Any]:
    F = FIELD
    shapes: dict[str, list[Field]] = {
        "Label": [
            ("name", 1, F.TYPE_STRING, F.LABEL_OPTIONAL, ""),
            ("value", 2, F.TYPE_STRING, F.LABEL_OPTIONAL, ""),
        ],
        "Sample": [
            ("value", 1, F.TYPE_DOUBLE, F.LABEL_OPTIONAL, ""),
            ("timestamp", 2, F.TYPE_INT64, F.LABEL_OPTIONAL, ""),
        ],
        **native_shapes("prometheus"),
        "TimeSeries": [
            ("labels", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".prometheus.Label"),
            ("samples", 2, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".prometheus.Sample"),
            ("histograms", 4, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".prometheus.Histogram"),
        ],
        "MetricMetadata": [
            ("type", 1, F.TYPE_INT32, F.LABEL_OPTIONAL, ""),  # an enum on the wire is its varint
            ("metric_family_name", 2, F.TYPE_STRING, F.LABEL_OPTIONAL, ""),
            ("help", 4, F.TYPE_STRING, F.LABEL_OPTIONAL, ""),
            ("unit", 5, F.TYPE_STRING, F.LABEL_OPTIONAL, ""),
        ],
        "WriteRequest": [
            ("timeseries", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".prometheus.TimeSeries"),
            ("metadata", 3, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".prometheus.MetricMetadata"),
        ],
    }
    return message_classes("forewarn/prometheus_remote_write.proto", "prometheus", shapes)


_CLASSES = _message_classes()
WriteRequest: Any = _CLASSES["WriteRequest"]  # also what tests use to encode requests


def decode_write_request(body: bytes, *, max_decoded_bytes: int, message: Any = None) -> Any:
    """Snappy-decompress and parse ``body`` as ``message`` (a class; 1.0's ``WriteRequest`` unless
    given); raises ``WriteRequestError`` (or ``OverflowError``)."""
    message = WriteRequest if message is None else message
    declared = _snappy_length(body)
    if declared > max_decoded_bytes:
        raise OverflowError(f"body decompresses to {declared} bytes, over the {max_decoded_bytes} limit")
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise WriteRequestError(f"body is not snappy (block format): {exc}") from None
    try:
        return message.FromString(raw)
    except DecodeError as exc:
        raise WriteRequestError(f"body is not a {message.DESCRIPTOR.full_name}: {exc}") from None


def _snappy_length(body: bytes) -> int:
    """The uncompressed length a snappy block declares up front (a varint), read before inflating."""
    length, shift = 0, 0
    for index, byte in enumerate(body[:10]):
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return length
        shift += 7
        if index == 4:  # snappy lengths are 32-bit: at most 5 varint bytes
            break
    raise WriteRequestError("body is not snappy (block format): bad length preamble")


def learn_metadata(request: Any, types: MetricTypes) -> None:
    """Record the family types a request carries (Prometheus sends them apart from samples)."""
    for metadata in request.metadata:
        if metadata.metric_family_name:
            types.learn(metadata.metric_family_name, metadata.type)


def _never(_name: str) -> bool:
    return False


def samples_from_write_request(
    request: Any,
    *,
    service_labels: Iterable[str],
    default_service: str,
    keep: Callable[[str], bool] = NameFilter(()),
    is_cumulative: Callable[[str], bool] = _never,
    pairs: HistogramPairs | None = None,
    buckets: BucketQuantiles | None = None,
    keep_buckets: bool = True,
    native: QuantileReaders | None = None,
) -> Converted:
    """Every usable sample as a ``MetricSample``: name from ``__name__``, service from a label.

    ``is_cumulative`` (by the name as sent) marks counters, whose rate the dataflow models. ``pairs``
    adds ``<family>_mean`` for a histogram or summary once a scrape's ``_count`` and ``_sum`` are in.
    ``buckets`` turns each ``<family>_bucket{le=...}`` scrape into its quantiles (``<family>_p99``);
    with ``keep_buckets`` False the buckets themselves are then dropped (reason ``histogram_bucket``).
    A native histogram gives ``<family>_count`` and ``_sum`` (cumulative unless a gauge histogram),
    ``_mean`` (with ``pairs``) and its quantiles from ``native``.

    Dropped and counted, never fatal: a series without ``__name__``, names that do not fit forewarn's,
    names ``keep`` refuses, non-finite values (a stale marker is a NaN), and timestamps outside the
    event schema's range.
    """
    out = Converted()
    candidates = list(service_labels)
    # a request holds a series' samples together, so several scrapes of a histogram come bucket by
    # bucket (Prometheus catching up); its parts are read after the loop, scrape by scrape
    parts: list[tuple[int, float, _Bucket | _Part]] = []
    for series in request.timeseries:
        labels = {label.name: label.value for label in series.labels}
        raw_name = labels.pop("__name__", "")
        points = len(series.samples) + len(series.histograms)
        if not raw_name:
            out.drop("no_name", points)
            continue
        if not keep(raw_name):
            out.drop("filtered", points)
            continue
        name = tame(raw_name)
        cumulative = is_cumulative(raw_name)
        service = pick_service(labels, candidates, default_service)
        if name is None or service is None:
            out.drop("bad_name", points)
            continue
        for histogram in series.histograms:
            _add_native(out, raw_name, service, labels, histogram, pairs, native)
        known = pairs.types.histogram_part(raw_name) if pairs is not None else None
        part = _Part(*known, (service, tuple(sorted(labels.items()))), labels) if known is not None else None
        bucket = _bucket_of(raw_name, labels, service) if buckets is not None else None
        for sample in series.samples:
            if not math.isfinite(sample.value):
                out.drop("not_finite")
                continue
            timestamp = _from_ms(sample.timestamp)
            if timestamp is None:
                out.drop("bad_timestamp")
                continue
            if bucket is not None:
                parts.append((sample.timestamp, sample.value, bucket))
                if not keep_buckets:
                    out.drop("histogram_bucket")
                    continue
            try:
                out.events.append(
                    MetricSample(
                        service=service,
                        name=name,
                        value=sample.value,
                        timestamp=timestamp,
                        labels=labels,
                        cumulative=cumulative,
                    )
                )
            except ValidationError:
                out.drop("bad_timestamp")
                continue
            if part is not None:
                parts.append((sample.timestamp, sample.value, part))
    for t_ms, value, of in sorted(parts, key=lambda item: item[0]):  # stable: a scrape's order kept
        _add_histogram_part(out, t_ms, value, of, pairs, buckets)
    return out


def _add_histogram_part(
    out: Converted,
    t_ms: int,
    value: float,
    of: _Bucket | _Part,
    pairs: HistogramPairs | None,
    buckets: BucketQuantiles | None,
) -> None:
    """Give one histogram sample to what pairs it (``_count``/``_sum``) or gathers it (a bucket)."""
    service = of.identity[0]
    if isinstance(of, _Part):
        if pairs is not None:
            at = datetime.fromtimestamp(t_ms / 1000.0, tz=UTC)
            found = pairs.add((of.family, of.is_count), of.identity, t_ms, value)
            _add_derived(out, found, service, of.labels, at)
        return
    if buckets is not None:
        for quantile in buckets.add(of.family, of.identity, of.le, t_ms, value):
            at = datetime.fromtimestamp(quantile.t_ms / 1000.0, tz=UTC)
            _add_derived(out, (quantile.name, quantile.value), service, of.labels, at)


class _Part(NamedTuple):
    """A histogram's or summary's ``_count`` or ``_sum`` sample series, known from metadata."""

    family: str
    is_count: bool
    identity: tuple[str, tuple[tuple[str, str], ...]]  # service and labels
    labels: dict[str, str]


class _Bucket(NamedTuple):
    """A histogram's ``_bucket`` sample series."""

    family: str
    le: str
    labels: dict[str, str]  # the series' labels but ``le``: the histogram's
    identity: tuple[str, tuple[tuple[str, str], ...]]  # service and those labels


def _bucket_of(raw_name: str, labels: dict[str, str], service: str) -> _Bucket | None:
    """A histogram bucket's family, bound and histogram labels: a ``_bucket`` name with an ``le`` label,
    which Prometheus' exposition formats reserve for this (no metadata needed)."""
    le = labels.get("le")
    if le is None or not raw_name.endswith("_bucket"):
        return None
    rest = {k: v for k, v in labels.items() if k != "le"}
    return _Bucket(raw_name[: -len("_bucket")], le, rest, (service, tuple(sorted(rest.items()))))


def _from_ms(t_ms: int) -> datetime | None:
    """A remote-write timestamp (ms since the epoch) as a time; None when no datetime can hold it."""
    try:
        return datetime.fromtimestamp(t_ms / 1000.0, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _add_native(
    out: Converted,
    family: str,
    service: str,
    labels: dict[str, str],
    histogram: Any,
    pairs: HistogramPairs | None,
    native: QuantileReaders | None,
) -> None:
    """A native histogram sample's count, sum, interval mean and quantiles (a stale marker: none)."""
    read = read_native(histogram)
    if not (math.isfinite(read.observations) and math.isfinite(read.total)):
        out.drop("not_finite")
        return
    at = _from_ms(histogram.timestamp)
    if at is None:
        out.drop("bad_timestamp")
        return
    key = ("native", family, service, tuple(sorted(labels.items())))
    derived: list[tuple[str, float | None]] = []
    if pairs is not None:
        mean = interval_mean(pairs.means, key, read.observations, read.total, 0, read.cumulative)
        derived.append((f"{family}_mean", mean))
    if native is not None:
        if read.custom is not None:
            bounds, counts = read.custom
            found = native.explicit.read(key, bounds, counts, 0, read.cumulative)
        elif read.buckets is not None:
            found = native.exponential.read(key, read.buckets, 0, read.cumulative)
        else:
            found = []
        derived += [(quantile_name(family, q), v) for q, v in found]
    for suffix, total in (("_count", read.observations), ("_sum", read.total)):
        _add_derived(out, (family + suffix, total), service, labels, at, cumulative=read.cumulative)
    for name, value in derived:
        _add_derived(out, None if value is None else (name, value), service, labels, at)


def _add_derived(
    out: Converted,
    found: tuple[str, float] | None,
    service: str,
    labels: dict[str, str],
    timestamp: datetime,
    cumulative: bool = False,
) -> None:
    """Publish a value derived from a histogram (its interval mean or a quantile), if there is one."""
    if found is None:
        return
    if not math.isfinite(found[1]):
        out.drop("not_finite")
        return
    name = tame(found[0])
    if name is None:
        out.drop("bad_name")
        return
    try:
        out.events.append(
            MetricSample(
                service=service,
                name=name,
                value=found[1],
                timestamp=timestamp,
                labels=labels,
                cumulative=cumulative,
            )
        )
    except ValidationError:
        out.drop("bad_timestamp")
