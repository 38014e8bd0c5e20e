"""A remote-written histogram's buckets become its quantiles between two scrapes (p99 latency).

Why: an SRE watches a latency histogram as ``histogram_quantile(0.99, rate(x_bucket[...]))``, not as a
dozen bucket counters. Modelled one by one, each ``x_bucket{le=...}`` was a rate series of its own:
a histogram of 12 buckets made 12 detectors (and 12 kinds of alert) per label set, none of them the
p99. Here a scrape's buckets are gathered (Prometheus' shards may spread them over requests), the
increase of each since the previous scrape taken, and the quantile read from them as PromQL's
``histogram_quantile`` reads a classic histogram: linear within the bucket the rank falls in, the
largest finite bound when it falls in ``+Inf``.

A scrape is complete when every bound of the histogram has come. The bounds are learned from the
first scrape, once two newer ones have begun (a sample of it may come late, from another shard), so
the first quantiles come with the third scrape. A counter that went back (a restart) counts from
zero, as ``rate`` does; a scrape whose bounds changed starts over.

>>> buckets, web = BucketQuantiles([0.5, 0.99]), ("web", ())
>>> def scrape(t, counts):  # one scrape's buckets, in order: the quantiles they completed
...     done = [found for le, c in counts for found in buckets.add("rpc_seconds", web, le, t, c)]
...     return [(name, round(value, 3), at) for name, value, at in done]
>>> scrape(1000, (("0.1", 0), ("0.5", 0), ("1", 0), ("+Inf", 0)))
[]
>>> scrape(16000, (("0.1", 50), ("0.5", 90), ("1", 100), ("+Inf", 100)))  # the bounds not yet known
[]
>>> # its first sample closes the first scrape (the bounds); the second's interval is then complete,
>>> # and from now on a scrape is complete at its last bound
>>> scrape(31000, (("0.1", 60), ("0.5", 100), ("1", 120), ("+Inf", 120)))  # doctest: +NORMALIZE_WHITESPACE
[('rpc_seconds_p50', 0.1, 16000), ('rpc_seconds_p99', 0.95, 16000),
 ('rpc_seconds_p50', 0.1, 31000), ('rpc_seconds_p99', 0.99, 31000)]
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from forewarn.collect.last_points import LastPoints

__all__ = [
    "BucketQuantiles",
    "PointQuantiles",
    "Quantile",
    "bucket_quantile",
    "checked_quantiles",
    "quantile_name",
]


class Quantile(NamedTuple):
    """One quantile of a scrape's interval: ``rpc_seconds_p99``, its value, the scrape's time (ms)."""

    name: str
    value: float
    t_ms: int


def bucket_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """PromQL's classic ``histogram_quantile``: ``buckets`` are (upper bound, cumulative count), sorted.

    None where PromQL gives NaN: no ``+Inf`` bucket, fewer than two buckets, or no observations.
    Counts that fall from one bound to the next (a scrape caught mid-update) are lifted to the
    running maximum first, as PromQL does.
    """
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]) or not 0.0 <= q <= 1.0:
        return None
    counts: list[float] = []
    for _, count in buckets:
        counts.append(max(count, counts[-1]) if counts else count)
    observations = counts[-1]
    if observations <= 0:
        return None
    rank = q * observations
    b = next((i for i, count in enumerate(counts) if count >= rank), None)
    if b is None:  # counts that are not numbers (NaN) rank nowhere
        return None
    if b == len(buckets) - 1:
        return buckets[-2][0]  # in +Inf: the largest finite bound is all a histogram can say
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start, end, count = 0.0, buckets[b][0], counts[b]
    if b > 0:
        start, count, rank = buckets[b - 1][0], count - counts[b - 1], rank - counts[b - 1]
    return start + (end - start) * (rank / count if count > 0 else 1.0)


def checked_quantiles(quantiles: Iterable[float]) -> tuple[float, ...]:
    out = tuple(quantiles)
    for q in out:
        if not 0.0 < q < 1.0:
            raise ValueError(f"a quantile must be in (0, 1), got {q}")
    return out


def _interval_quantiles(
    quantiles: Iterable[float],
    upper: Sequence[float],
    now: Sequence[float],
    before: Sequence[float] | None,
) -> list[tuple[float, float]]:
    """``(q, value)`` over the interval from cumulative counts ``before`` to ``now`` (``+Inf`` last).

    No ``before`` (a delta point), or a total that went back (a restart, as ``rate`` reads it): the
    counts of ``now`` are the interval's. A ``q`` the counts cannot answer is left out.
    """
    if before is not None and now[-1] >= before[-1]:
        now = [max(0.0, a - b) for a, b in zip(now, before, strict=True)]
    buckets = list(zip(upper, now, strict=True))
    found = ((q, bucket_quantile(q, buckets)) for q in quantiles)
    return [(q, value) for q, value in found if value is not None]


def quantile_name(family: str, q: float) -> str:
    """``rpc_seconds`` and 0.99 -> ``rpc_seconds_p99``; 0.999 -> ``rpc_seconds_p99_9``."""
    percent = f"{q * 100:.6f}".rstrip("0").rstrip(".")
    return f"{family}_p{percent.replace('.', '_')}"


@dataclass(slots=True)
class _Series:
    """One histogram series: its bounds, its last complete scrape and the scrapes still gathering."""

    bounds: frozenset[float] | None = None  # the bounds a complete scrape has
    last_t: int | None = None
    last: dict[float, float] = field(default_factory=dict)  # bound -> cumulative count
    pending: dict[int, dict[float, float]] = field(default_factory=dict)  # by scrape timestamp


class BucketQuantiles:
    """Per histogram series (at most ``limit``, least recently seen forgotten), its scrapes' buckets."""

    def __init__(self, quantiles: Iterable[float], limit: int = 100_000) -> None:
        self.quantiles = checked_quantiles(quantiles)
        self.limit = limit
        self._series: OrderedDict[Hashable, _Series] = OrderedDict()

    def add(self, family: str, series: Hashable, le: str, t_ms: int, value: float) -> list[Quantile]:
        """Take one bucket sample; the quantiles of the scrapes it completes (the interval up to each).

        ``series`` identifies the histogram apart from its name and ``le`` (service and other labels).
        Ignored: a bound that is not a number, and a sample no newer than the last complete scrape.
        Scrapes close in time order. One still incomplete when two newer ones have begun is not
        waited for any longer: its missing bounds were lost, or the histogram's bounds changed, and it
        becomes the baseline of the next interval.
        """
        try:
            bound = float(le)
        except ValueError:
            return []
        key = (family, series)
        state = self._series.pop(key, None) or _Series()
        self._series[key] = state
        if len(self._series) > self.limit:
            self._series.popitem(last=False)
        if state.last_t is not None and t_ms <= state.last_t:
            return []
        state.pending.setdefault(t_ms, {})[bound] = value
        out: list[Quantile] = []
        for t in sorted(state.pending):
            counts = state.pending[t]
            complete = state.bounds is not None and counts.keys() == state.bounds
            if not complete and len(state.pending) <= 2:
                break
            del state.pending[t]
            if complete:
                out.extend(self._quantiles(family, state.last, counts, t))
            else:
                state.bounds = frozenset(counts)
            state.last_t, state.last = t, counts
        return out

    def _quantiles(
        self, family: str, before: dict[float, float], now: dict[float, float], t_ms: int
    ) -> list[Quantile]:
        bounds = sorted(now)
        found = _interval_quantiles(
            self.quantiles, bounds, [now[b] for b in bounds], [before[b] for b in bounds]
        )
        return [Quantile(quantile_name(family, q), value, t_ms) for q, value in found]


class _Point(NamedTuple):
    bounds: tuple[float, ...]
    cumulative: tuple[float, ...]  # running totals up to each bound, +Inf last
    start: int


class PointQuantiles:
    """OpenTelemetry's explicit-bucket histograms: a point's quantiles over the interval since the last.

    Why apart from ``BucketQuantiles``: an OTLP point carries all its buckets at once (counts per
    bucket, the ``+Inf`` one last), so nothing is gathered; a cumulative point needs the series' last
    one (at most ``limit`` series kept), a delta point is its own interval. A new start time, or a total
    that went down, is a restart: the point's counts are then all since it.

    >>> points = PointQuantiles([0.99])
    >>> points.read("web/rpc", (0.1, 0.5, 1.0), (5, 5, 0, 0), start=1, cumulative=True)
    []
    >>> [(q, round(v, 3)) for q, v in points.read("web/rpc", (0.1, 0.5, 1.0), (50, 45, 5, 0), 1, True)]
    [(0.99, 0.91)]
    """

    def __init__(self, quantiles: Iterable[float], limit: int = 100_000) -> None:
        self.quantiles = checked_quantiles(quantiles)
        self._last = LastPoints[_Point](limit)

    def read(
        self, key: Hashable, bounds: Sequence[float], counts: Sequence[float], start: int, cumulative: bool
    ) -> list[tuple[float, float]]:
        """``(q, value)`` per quantile; none for a series' first cumulative point or a bad shape."""
        if len(counts) != len(bounds) + 1:
            return []  # the data model's shape; an empty histogram has no buckets at all
        totals: list[float] = []
        for count in counts:
            totals.append(count + (totals[-1] if totals else 0.0))
        upper = (*bounds, math.inf)
        if not cumulative:
            return _interval_quantiles(self.quantiles, upper, totals, None)
        now = _Point(tuple(bounds), tuple(totals), start)
        last = self._last.swap(key, now)
        if last is None or last.bounds != now.bounds:
            return []
        before = last.cumulative if start == last.start else None  # a new start: counts since it
        return _interval_quantiles(self.quantiles, upper, totals, before)
