"""Prometheus remote write 2.0 in: an ``io.prometheus.write.v2.Request``, read as the 1.0 request it holds.

Why: Prometheus 3 (``protobuf_message: io.prometheus.write.v2.Request``) and other senders speak 2.0. It
carries the same series as 1.0, with two changes that matter here: strings are sent once, in a symbols
table, and referred to by index; and each series carries its own metric type, so no separate metadata
request is waited for. The request is turned into 1.0's (labels spelled out, samples and native
histograms as they are; their fields are numbered alike) and each series' type is learned, so one path
(``remote_write.samples_from_write_request``) maps both. The spec's response headers say how many
samples, histograms and exemplars were written: here, how many came (exemplars are not read: 0).

The messages, from Prometheus' ``prompb/io/prometheus/write/v2/types.proto``::

    message Request    { repeated string symbols = 4; repeated TimeSeries timeseries = 5; }
    message TimeSeries { repeated uint32 labels_refs = 1; repeated Sample samples = 2;
                         repeated Histogram histograms = 3; repeated Exemplar exemplars = 4;
                         Metadata metadata = 5; int64 created_timestamp = 6; }
    message Sample     { double value = 1; int64 timestamp = 2; }
    message Metadata   { MetricType type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; }
"""

from __future__ import annotations

from typing import Any, NamedTuple

from forewarn.collect.metric_types import MetricTypes
from forewarn.collect.native_histograms import native_shapes
from forewarn.collect.proto_messages import FIELD, Field, message_classes
from forewarn.collect.remote_write import WriteRequest, WriteRequestError

__all__ = ["V2_MESSAGE", "V2Request", "Written", "as_v1"]

V2_MESSAGE = "io.prometheus.write.v2.Request"


def _classes() -> dict[str, Any]:
    F = FIELD
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    package = "io.prometheus.write.v2"
    shapes: dict[str, list[Field]] = {
        **native_shapes(package),
        "Sample": [("value", 1, F.TYPE_DOUBLE, opt, ""), ("timestamp", 2, F.TYPE_INT64, opt, "")],
        "Metadata": [
            ("type", 1, F.TYPE_INT32, opt, ""),  # the same numbers as 1.0's MetricType
            ("help_ref", 3, F.TYPE_UINT32, opt, ""),
            ("unit_ref", 4, F.TYPE_UINT32, opt, ""),
        ],
        "TimeSeries": [
            ("labels_refs", 1, F.TYPE_UINT32, rep, ""),
            ("samples", 2, F.TYPE_MESSAGE, rep, f".{package}.Sample"),
            ("histograms", 3, F.TYPE_MESSAGE, rep, f".{package}.Histogram"),
            ("metadata", 5, F.TYPE_MESSAGE, opt, f".{package}.Metadata"),
        ],
        "Request": [
            ("symbols", 4, F.TYPE_STRING, rep, ""),
            ("timeseries", 5, F.TYPE_MESSAGE, rep, f".{package}.TimeSeries"),
        ],
    }
    return message_classes("forewarn/prometheus_remote_write_v2.proto", package, shapes)


V2Request: Any = _classes()["Request"]  # also what tests use to encode requests


class Written(NamedTuple):
    """What a 2.0 request held, for the response headers the spec asks a receiver to send."""

    samples: int
    histograms: int

    def headers(self) -> dict[str, str]:
        return {
            "X-Prometheus-Remote-Write-Samples-Written": str(self.samples),
            "X-Prometheus-Remote-Write-Histograms-Written": str(self.histograms),
            "X-Prometheus-Remote-Write-Exemplars-Written": "0",
        }


def as_v1(request: Any, types: MetricTypes) -> tuple[Any, Written]:
    """The 1.0 ``WriteRequest`` holding ``request``'s series; each series' type is learned in ``types``.

    Raises ``WriteRequestError`` for a label reference that is odd in number or outside the symbols.
    """
    symbols = request.symbols
    out = WriteRequest()
    samples = histograms = 0
    for series in request.timeseries:
        refs = series.labels_refs
        if len(refs) % 2 or any(ref >= len(symbols) for ref in refs):
            raise WriteRequestError("a series' labels_refs are odd in number or outside the symbols")
        labels = {symbols[refs[i]]: symbols[refs[i + 1]] for i in range(0, len(refs), 2)}
        converted = out.timeseries.add()
        for name, value in labels.items():
            converted.labels.add(name=name, value=value)
        for sample in series.samples:
            converted.samples.add(value=sample.value, timestamp=sample.timestamp)
        for histogram in series.histograms:
            converted.histograms.add().ParseFromString(histogram.SerializeToString())
        samples += len(series.samples)
        histograms += len(series.histograms)
        if series.metadata.type and labels.get("__name__"):
            types.learn_series(labels["__name__"], series.metadata.type)
    return out, Written(samples, histograms)
