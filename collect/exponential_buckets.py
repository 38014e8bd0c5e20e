"""Exponential histograms give their quantiles between two points: OTLP's, and Prometheus' native ones.

Why: OpenTelemetry SDKs can aggregate into base-2 exponential buckets, and Prometheus' native
histograms are the same buckets. Without them such a histogram gave its count, sum and mean but no
p99, and a native histogram sent by remote write gave nothing at all.

The buckets: at scale ``s`` the base is 2^(2^-s), and OTLP's bucket ``i`` holds the values in
(base^i, base^(i+1)] (Prometheus numbers the same bucket ``i + 1``; its reader shifts it); a negative
value's bucket is that of its magnitude; values within ``zero_threshold`` of 0 are counted apart.
Over the interval since the series' last point, each bucket's increase is taken, and the quantile is
read as from a classic histogram (``bucket_quantile``): linear within the bucket the rank falls in.
An SDK lowers the scale as a histogram's range grows, so two points may differ in scale: both are
brought to the coarser one, merging 2^d neighbouring buckets, as the OpenTelemetry specification
merges histograms. A new start time or a total that went down is a restart: the point's counts are
then all since it.

>>> points = ExponentialQuantiles([0.5, 0.99])
>>> first = ExponentialPoint.of(scale=0, zero_count=0, zero_threshold=0.0, positive=(0, [1]))
>>> points.read("web/rpc", first, start=1, cumulative=True)  # a first point: no interval yet
[]
>>> # 1 value in (1, 2] before; now 1 more there and 98 in (2, 4]: the interval's 99 values
>>> later = ExponentialPoint.of(scale=0, zero_count=0, zero_threshold=0.0, positive=(0, [2, 98]))
>>> [(q, round(v, 3)) for q, v in points.read("web/rpc", later, start=1, cumulative=True)]
[(0.5, 2.99), (0.99, 3.98)]
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from typing import NamedTuple

from forewarn.collect.histogram_buckets import (
    PointQuantiles,
    bucket_quantile,
    checked_quantiles,
    quantile_name,
)
from forewarn.collect.last_points import LastPoints

__all__ = ["ExponentialPoint", "ExponentialQuantiles", "QuantileReaders", "classic_buckets", "interval"]

MIN_SCALE, MAX_SCALE = -10, 20  # OTLP's range; Prometheus' native schemas are -4..8 within it


class ExponentialPoint(NamedTuple):
    """One point's buckets: counts by OTLP index, positive and negative (by magnitude), and zero's."""

    scale: int
    zero_count: float
    zero_threshold: float
    positive: dict[int, float]
    negative: dict[int, float]

    @classmethod
    def of(
        cls,
        scale: int,
        zero_count: float,
        zero_threshold: float,
        positive: tuple[int, Sequence[float]] = (0, ()),
        negative: tuple[int, Sequence[float]] = (0, ()),
    ) -> ExponentialPoint:
        """From OTLP's dense buckets: (offset, counts), ``counts[k]`` being bucket ``offset + k``."""
        return cls(scale, float(zero_count), zero_threshold, _dense(*positive), _dense(*negative))

    def total(self) -> float:
        return self.zero_count + sum(self.positive.values()) + sum(self.negative.values())

    def at_scale(self, scale: int) -> ExponentialPoint:
        """The same counts at a coarser ``scale``: bucket ``i`` falls in ``i >> (self.scale - scale)``."""
        by = self.scale - scale
        if by <= 0:
            return self
        return self._replace(
            scale=scale, positive=_merged(self.positive, by), negative=_merged(self.negative, by)
        )


def _dense(offset: int, counts: Sequence[float]) -> dict[int, float]:
    return {offset + k: float(c) for k, c in enumerate(counts) if c}


def _merged(buckets: dict[int, float], by: int) -> dict[int, float]:
    out: dict[int, float] = {}
    for i, count in buckets.items():
        out[i >> by] = out.get(i >> by, 0.0) + count
    return out


def _increase(now: dict[int, float], before: dict[int, float]) -> dict[int, float]:
    return {i: c - before.get(i, 0.0) for i, c in now.items() if c > before.get(i, 0.0)}


def interval(now: ExponentialPoint, before: ExponentialPoint | None) -> ExponentialPoint:
    """The counts observed between ``before`` and ``now`` (cumulative points of one series).

    No ``before``, or a total that went down (a restart): ``now``'s own counts.
    """
    if before is None or now.total() < before.total():
        return now
    scale = min(now.scale, before.scale)
    now, before = now.at_scale(scale), before.at_scale(scale)
    return now._replace(
        zero_count=max(0.0, now.zero_count - before.zero_count),
        positive=_increase(now.positive, before.positive),
        negative=_increase(now.negative, before.negative),
    )


def classic_buckets(point: ExponentialPoint) -> list[tuple[float, float]] | None:
    """``point``'s buckets laid out as a classic histogram's (upper bound, cumulative count), ``+Inf``
    last, for ``bucket_quantile``; None when a bound overflows a float or the scale is out of range.

    Each bucket is preceded by its lower bound at the count before it, so the linear reading stays
    within the bucket the rank falls in.
    """
    if not MIN_SCALE <= point.scale <= MAX_SCALE:
        return None
    width = 2.0**-point.scale  # log2 of the base
    try:
        edges = [
            (-(2.0 ** ((i + 1) * width)), -(2.0 ** (i * width)), point.negative[i])
            for i in sorted(point.negative, reverse=True)
        ]
        zero = point.zero_threshold
        if point.zero_count:
            edges.append((-zero if point.negative else 0.0, zero, point.zero_count))
        edges += [
            (2.0 ** (i * width), 2.0 ** ((i + 1) * width), point.positive[i]) for i in sorted(point.positive)
        ]
    except OverflowError:
        return None
    buckets: list[tuple[float, float]] = []
    seen = 0.0
    for lower, upper, count in edges:
        buckets += [(lower, seen), (upper, seen + count)]
        seen += count
    buckets.append((math.inf, seen))
    return buckets


class _Last(NamedTuple):
    point: ExponentialPoint
    start: int


class ExponentialQuantiles:
    """Per series (at most ``limit``), the last cumulative point; each point's quantiles since it."""

    def __init__(self, quantiles: Iterable[float], limit: int = 100_000) -> None:
        self.quantiles = checked_quantiles(quantiles)
        self._last = LastPoints[_Last](limit)

    def read(
        self, key: Hashable, point: ExponentialPoint, start: int, cumulative: bool
    ) -> list[tuple[float, float]]:
        """``(q, value)`` per quantile the interval can answer; none for a series' first cumulative point."""
        if cumulative:
            last = self._last.swap(key, _Last(point, start))
            if last is None:
                return []
            point = interval(point, last.point if last.start == start else None)
        buckets = classic_buckets(point)
        if buckets is None:
            return []
        found = ((q, bucket_quantile(q, buckets)) for q in self.quantiles)
        return [(q, value) for q, value in found if value is not None]


class QuantileReaders:
    """The quantiles asked for (``receiver.histogram_quantiles``) and a reader per kind of buckets:
    explicit bounds (OTLP's, and native histograms with custom buckets) and exponential ones.

    Why together: a door meets both kinds, and each reader keeps the last point of its series.
    """

    def __init__(self, quantiles: Iterable[float], limit: int = 100_000) -> None:
        self.quantiles = checked_quantiles(quantiles)
        self.explicit = PointQuantiles(self.quantiles, limit)
        self.exponential = ExponentialQuantiles(self.quantiles, limit)
        self.suffix_of = {q: quantile_name("", q) for q in self.quantiles}  # 0.99 -> "_p99"
        self.suffixes = tuple(self.suffix_of.values())
