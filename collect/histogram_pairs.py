"""remote_write's histograms: the mean of the observations between two scrapes, from ``_sum`` and ``_count``.

Why pairs: Prometheus sends a histogram (or a summary) as separate series, ``x_count``, ``x_sum`` and
``x_bucket``, and its remote-write shards may put the two a mean needs in different requests. So each
series keeps the half of a scrape it has seen until the other half, with the same timestamp, comes;
then :class:`~forewarn.collect.interval_means.IntervalMeans` gives (sum - last sum) / (count - last
count), PromQL's ``rate(x_sum) / rate(x_count)``. Which names are a histogram's comes from Prometheus'
metadata (:class:`~forewarn.collect.metric_types.MetricTypes`): before it has come, no mean.

>>> from forewarn.collect.metric_types import HISTOGRAM, MetricTypes
>>> types = MetricTypes(["_total"]); types.learn("latency_seconds", HISTOGRAM)
>>> pairs, web = HistogramPairs(types), ("web", ())
>>> count, total = types.histogram_part("latency_seconds_count"), types.histogram_part("latency_seconds_sum")
>>> [pairs.add(count, web, 1000, 10.0), pairs.add(total, web, 1000, 2.0)]
[None, None]
>>> pairs.add(total, web, 16000, 4.0) is None  # half of the next scrape
True
>>> pairs.add(count, web, 16000, 14.0)  # 4 requests took 2.0 s
('latency_seconds_mean', 0.5)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import NamedTuple

from forewarn.collect.interval_means import IntervalMeans
from forewarn.collect.metric_types import MetricTypes

__all__ = ["HistogramPairs"]


class _Half(NamedTuple):
    t_ms: int
    observations: float | None
    total: float | None


class HistogramPairs:
    """Per histogram series (at most ``limit``), the half scrape waiting for its other half."""

    def __init__(self, types: MetricTypes, limit: int = 100_000) -> None:
        self.types = types
        self.limit = limit
        self.means = IntervalMeans(limit)
        self._halves: OrderedDict[Hashable, _Half] = OrderedDict()

    def add(
        self, part: tuple[str, bool], series: Hashable, t_ms: int, value: float
    ) -> tuple[str, float] | None:
        """``(family + "_mean", mean)`` once a scrape's count and sum are both in; else None.

        ``part`` is ``MetricTypes.histogram_part`` of the sample's name, ``series`` what identifies the
        series apart from its name (service and labels). A part of a newer scrape replaces a half that
        never found its other half.
        """
        family, is_count = part
        key = (family, series)
        half = self._halves.pop(key, None)
        if half is None or half.t_ms != t_ms:
            half = _Half(t_ms, None, None)
        half = half._replace(observations=value) if is_count else half._replace(total=value)
        if half.observations is None or half.total is None:
            self._halves[key] = half
            if len(self._halves) > self.limit:
                self._halves.popitem(last=False)
            return None
        mean = self.means.mean(key, half.observations, half.total, start=0)
        return None if mean is None else (f"{family}_mean", mean)
