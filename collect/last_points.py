"""The last point of each series, for what reads the interval between two points (means, quantiles).

Why one class: every cumulative reader needs the series' previous point, must forget series that
went away (at most ``limit``, the least recently seen first), and must not grow with a label
explosion; the mean, the explicit-bucket and the exponential quantiles all keep points this way.

>>> last = LastPoints[int](limit=2)
>>> last.swap("a", 1) is None, last.swap("a", 2), last.swap("b", 1), last.swap("c", 1)
(True, 1, None, None)
>>> last.swap("a", 3) is None  # "a" was the least recently seen: forgotten
True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["LastPoints"]

P = TypeVar("P")


class LastPoints(Generic[P]):
    """Per series key, its last point (at most ``limit`` series, least recently seen forgotten)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._last: OrderedDict[Hashable, P] = OrderedDict()

    def swap(self, key: Hashable, point: P) -> P | None:
        """Keep ``point`` as ``key``'s last; the one it replaces (None for a series' first)."""
        last = self._last.pop(key, None)
        self._last[key] = point
        if len(self._last) > self.limit:
            self._last.popitem(last=False)
        return last
