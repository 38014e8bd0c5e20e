"""Prometheus' native histograms in a remote-write request: their count, sum and exponential buckets.

Why: Prometheus scraping a native histogram (``--enable-feature=native-histograms``) sends it as one
``Histogram`` per scrape in the series' ``histograms`` field, with no ``_bucket``, ``_count`` or
``_sum`` series at all, so before this it gave forewarn nothing. The message, from Prometheus'
``prompb/types.proto``::

    message BucketSpan { sint32 offset = 1; uint32 length = 2; }
    message Histogram  { uint64 count_int = 1; double count_float = 2; double sum = 3;
                         sint32 schema = 4; double zero_threshold = 5;
                         uint64 zero_count_int = 6; double zero_count_float = 7;
                         repeated BucketSpan negative_spans = 8; repeated sint64 negative_deltas = 9;
                         repeated double negative_counts = 10;
                         repeated BucketSpan positive_spans = 11; repeated sint64 positive_deltas = 12;
                         repeated double positive_counts = 13; ResetHint reset_hint = 14;
                         int64 timestamp = 15; }   // count and zero_count: a oneof each

Buckets come as spans of consecutive indexes (the first span's offset is its first index, a later
one's the gap after the span before it), with each bucket's count as the difference from the one
before it (integer histograms) or as itself (float histograms). Prometheus' bucket ``j`` is
(base^(j-1), base^j], which is OTLP's bucket ``j - 1``; ``schema`` is the scale. Schema -53 is custom
buckets (Prometheus 3 converts classic histograms to them): ``custom_values`` are the upper bounds,
bucket ``i`` ends at ``custom_values[i]`` and the one past them at ``+Inf``, read as explicit buckets.

>>> from types import SimpleNamespace as S
>>> h = S(count_int=3, count_float=0.0, sum=5.5, schema=0, zero_threshold=0.0, zero_count_int=0,
...       zero_count_float=0.0, positive_spans=[S(offset=1, length=2)], positive_deltas=[1, 1],
...       positive_counts=[], negative_spans=[], negative_deltas=[], negative_counts=[], reset_hint=0)
>>> read_native(h).buckets.positive  # 1 in (1, 2], 2 in (2, 4]: OTLP's buckets 0 and 1
{0: 1.0, 1: 2.0}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any, NamedTuple

from forewarn.collect.exponential_buckets import ExponentialPoint
from forewarn.collect.proto_messages import FIELD, Field

__all__ = ["CUSTOM_BUCKETS", "GAUGE_HINT", "NativeHistogram", "native_shapes", "read_native"]

GAUGE_HINT = 3  # ResetHint.GAUGE: a gauge histogram, each sample a distribution of its own
CUSTOM_BUCKETS = -53  # the schema of custom (explicit) buckets, e.g. a classic histogram converted


def native_shapes(package: str) -> dict[str, list[Field]]:
    """The two messages, as ``proto_messages`` builds them in ``package`` (remote write 1.0's
    ``prometheus`` and 2.0's ``io.prometheus.write.v2`` number their fields alike)."""
    F = FIELD
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    span = f".{package}.BucketSpan"
    return {
        "BucketSpan": [("offset", 1, F.TYPE_SINT32, opt, ""), ("length", 2, F.TYPE_UINT32, opt, "")],
        "Histogram": [
            ("count_int", 1, F.TYPE_UINT64, opt, ""),
            ("count_float", 2, F.TYPE_DOUBLE, opt, ""),
            ("sum", 3, F.TYPE_DOUBLE, opt, ""),
            ("schema", 4, F.TYPE_SINT32, opt, ""),
            ("zero_threshold", 5, F.TYPE_DOUBLE, opt, ""),
            ("zero_count_int", 6, F.TYPE_UINT64, opt, ""),
            ("zero_count_float", 7, F.TYPE_DOUBLE, opt, ""),
            ("negative_spans", 8, F.TYPE_MESSAGE, rep, span),
            ("negative_deltas", 9, F.TYPE_SINT64, rep, ""),
            ("negative_counts", 10, F.TYPE_DOUBLE, rep, ""),
            ("positive_spans", 11, F.TYPE_MESSAGE, rep, span),
            ("positive_deltas", 12, F.TYPE_SINT64, rep, ""),
            ("positive_counts", 13, F.TYPE_DOUBLE, rep, ""),
            ("reset_hint", 14, F.TYPE_INT32, opt, ""),  # an enum on the wire is its varint
            ("timestamp", 15, F.TYPE_INT64, opt, ""),
            ("custom_values", 16, F.TYPE_DOUBLE, rep, ""),
        ],
    }


class NativeHistogram(NamedTuple):
    """One native histogram sample, read: its totals, whether they are a counter's, and its buckets:
    exponential ones, or explicit ``(bounds, counts)`` with custom buckets. None when a count is
    negative or not a number, or the bounds do not rise: a malformed sample gives no quantile."""

    observations: float  # the count (``count`` would hide tuple.count)
    total: float
    cumulative: bool
    buckets: ExponentialPoint | None
    custom: tuple[tuple[float, ...], tuple[float, ...]] | None = None


def read_native(h: Any) -> NativeHistogram:
    """A ``Histogram`` message's numbers (an integer or a float histogram alike)."""
    is_float = bool(h.count_float or h.positive_counts or h.negative_counts or h.zero_count_float)
    count = float(h.count_float if is_float else h.count_int)
    cumulative = h.reset_hint != GAUGE_HINT
    positive_values = h.positive_counts if is_float else h.positive_deltas
    if h.schema == CUSTOM_BUCKETS:
        return NativeHistogram(
            count,
            h.sum,
            cumulative,
            None,
            _custom(h.custom_values, _buckets(h.positive_spans, positive_values, is_float, 0)),
        )
    buckets = ExponentialPoint(
        scale=h.schema,
        zero_count=float(h.zero_count_float if is_float else h.zero_count_int),
        zero_threshold=h.zero_threshold,
        positive=_buckets(h.positive_spans, positive_values, is_float, 1),
        negative=_buckets(
            h.negative_spans, h.negative_counts if is_float else h.negative_deltas, is_float, 1
        ),
    )
    counts = (
        buckets.zero_count,
        buckets.zero_threshold,
        *buckets.positive.values(),
        *buckets.negative.values(),
    )
    usable = all(math.isfinite(c) and c >= 0 for c in counts)
    return NativeHistogram(count, h.sum, cumulative, buckets if usable else None)


def _custom(
    bounds: Sequence[float], by_index: dict[int, float]
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Custom buckets as explicit ones: bucket ``i``'s upper bound is ``bounds[i]``, the last ``+Inf``."""
    rising = all(math.isfinite(b) for b in bounds) and all(a < b for a, b in pairwise(bounds))
    if not rising or any(not 0 <= i <= len(bounds) for i in by_index):
        return None
    counts = tuple(by_index.get(i, 0.0) for i in range(len(bounds) + 1))
    if not all(math.isfinite(c) and c >= 0 for c in counts):
        return None
    return tuple(bounds), counts


def _buckets(spans: Sequence[Any], values: Sequence[float], absolute: bool, shift: int) -> dict[int, float]:
    """Counts by index from spans and their values (the index less ``shift``: 1 turns Prometheus'
    exponential index into OTLP's); a span past the values ends the read."""
    out: dict[int, float] = {}
    index, k, count = 0, 0, 0.0
    for span in spans:
        index += span.offset
        for _ in range(span.length):
            if k >= len(values):
                return out
            count = values[k] if absolute else count + values[k]
            if count:
                out[index - shift] = float(count)
            index, k = index + 1, k + 1
    return out
