"""Series identity with labels, and a bound on how many series one dataflow process holds.

Why: labels are part of a series' identity (two pods' or two mountpoints' ``disk_usage`` are two
models, not one), so one exporter that puts a request id or a timestamp in a label would otherwise
create detector state without bound. :class:`SeriesBudget` admits at most ``limit`` distinct series;
a new series past that is dropped (and counted) unless the least recently seen one has been idle
for ``idle_seconds``, in which case it gives its place back, as its detector state expires then too.
Times are event times, so a replay after a restart admits the same series as the first run did.

>>> series_name("web", "disk_usage", {"mountpoint": "/var", "device": "sda1"})
'web/disk_usage{device="sda1",mountpoint="/var"}'
>>> series_name("web", "disk_usage", {})
'web/disk_usage'
>>> budget = SeriesBudget(limit=2, idle_seconds=60.0)
>>> [budget.admit(s, now=0.0) for s in ("a", "b", "c", "a")]
[True, True, False, True]
>>> budget.admit("c", now=100.0), budget.dropped
(True, 1)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping

__all__ = ["SeriesBudget", "series_name"]


def series_name(service: str, name: str, labels: Mapping[str, str]) -> str:
    """``service/name`` plus the labels in Prometheus' notation, sorted so the name is canonical."""
    if not labels:
        return f"{service}/{name}"
    inner = ",".join(f'{key}="{labels[key]}"' for key in sorted(labels))
    return f"{service}/{name}{{{inner}}}"


class SeriesBudget:
    """At most ``limit`` series (None: no bound); least recently seen first to give way when idle."""

    def __init__(
        self,
        limit: int | None,
        idle_seconds: float | None,
        on_drop: Callable[[str], None] | None = None,
    ) -> None:
        self.limit = limit
        self.idle_seconds = idle_seconds
        self.on_drop = on_drop
        self.dropped = 0
        self._last_seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last_seen)

    def admit(self, series: str, now: float) -> bool:
        """True when ``series`` may be modelled; a refused one is counted and reported."""
        seen = self._last_seen
        last = seen.get(series)
        if last is not None:
            seen.move_to_end(series)
            if now > last:
                seen[series] = now
            return True
        if self.limit is not None and len(seen) >= self.limit and not self._free_one(now):
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop(series)
            return False
        seen[series] = now
        return True

    def _free_one(self, now: float) -> bool:
        if self.idle_seconds is None or not self._last_seen:
            return False
        oldest, last = next(iter(self._last_seen.items()))
        if now - last < self.idle_seconds:
            return False
        del self._last_seen[oldest]
        return True
