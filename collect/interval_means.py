"""The mean of a histogram's observations between two of its points: the "duration" an SRE watches.

Why in the receiver: a cumulative histogram (what OpenTelemetry SDKs send by default) carries the
count and sum of every observation since its start, so the mean latency of the last interval is
(sum - previous sum) / (count - previous count), which needs the previous point. Each point then
gives one number a detector can learn, as PromQL's ``rate(x_sum) / rate(x_count)`` does. Two
receivers behind a balancer stay correct: each takes the difference between points it saw, in order.

>>> means = IntervalMeans()
>>> means.mean("web/http.server.duration", count=10, total=2.0, start=1) is None  # no interval yet
True
>>> means.mean("web/http.server.duration", count=14, total=4.0, start=1)  # 4 requests took 2.0
0.5
>>> means.mean("web/http.server.duration", count=14, total=4.0, start=1) is None  # none since
True
>>> means.mean("web/http.server.duration", count=2, total=0.3, start=9)  # restarted: since then
0.15
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import NamedTuple

from forewarn.collect.last_points import LastPoints

__all__ = ["IntervalMeans", "interval_mean"]


class _Point(NamedTuple):
    observations: float  # the point's count (``count`` would hide tuple.count)
    total: float
    start: int


class IntervalMeans:
    """Per series, the last cumulative point (at most ``limit`` series, least recently seen forgotten)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._last = LastPoints[_Point](limit)

    def mean(self, key: Hashable, count: float, total: float, start: int) -> float | None:
        """The mean since ``key``'s previous point; None when no observation came in between.

        ``start`` is the point's start time: a new one, or a count that went down, means the series
        restarted, and its totals are then all since that restart. A series' first point gives None:
        its totals may span days before this receiver started.
        """
        last = self._last.swap(key, _Point(count, total, start))
        if last is None:
            return None
        if start != last.start or count < last.observations:
            return total / count if count > 0 else None
        observed = count - last.observations
        return (total - last.total) / observed if observed > 0 else None


def interval_mean(
    means: IntervalMeans | None, key: Hashable, count: float, total: float, start: int, cumulative: bool
) -> float | None:
    """The mean of a point's interval: a delta point is its own, a cumulative one is read against
    ``key``'s last point in ``means`` (none without them). Both doors' histograms use this rule."""
    if not cumulative:
        return total / count if count > 0 else None
    return means.mean(key, count, total, start) if means is not None else None
