"""Which remote-written metric names are cumulative counters, so the dataflow models their rate.

Why two sources: Prometheus remote_write 1.0 sends each family's type (``MetricMetadata``) in requests of
its own, every ``metadata_config.send_interval`` (1 min by default), apart from the samples. Until a
family's type has come, the name decides: Prometheus' naming rules (and OpenMetrics, which requires it)
end a counter's name in ``_total``. A type that has come always wins, so a gauge someone named
``..._total`` is read as the gauge it is once its metadata arrives. Remote write 2.0 sends each series'
type with the series itself (``learn_series``), so there the type is known from the first sample.

>>> types = MetricTypes(["_total"])
>>> types.is_cumulative("http_requests_total"), types.is_cumulative("request_seconds_count")
(True, False)
>>> types.learn("request_seconds", HISTOGRAM)
>>> types.is_cumulative("request_seconds_count"), types.is_cumulative("request_seconds_bucket")
(True, True)
>>> types.learn("queue_items_total", GAUGE)
>>> types.is_cumulative("queue_items_total")
False
>>> types.histogram_part("request_seconds_sum"), types.histogram_part("queue_items_total")
(('request_seconds', False), None)
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["COUNTER", "GAUGE", "HISTOGRAM", "SUMMARY", "MetricTypes"]

# prompb's MetricMetadata.MetricType values
UNKNOWN, COUNTER, GAUGE, HISTOGRAM, GAUGE_HISTOGRAM, SUMMARY, INFO, STATESET = range(8)

# The sample names a family of each type writes, and whether each one is a running total.
_SERIES: dict[int, tuple[tuple[str, bool], ...]] = {
    COUNTER: (("", True), ("_total", True)),
    GAUGE: (("", False),),
    HISTOGRAM: (("_count", True), ("_sum", True), ("_bucket", True)),
    SUMMARY: (("_count", True), ("_sum", True), ("", False)),
    GAUGE_HISTOGRAM: (("_gcount", False), ("_gsum", False), ("_bucket", False)),
    INFO: (("", False), ("_info", False)),
    STATESET: (("", False),),
}


class MetricTypes:
    """Names known from metadata (at most ``limit``, oldest forgotten first), else the suffix rule."""

    def __init__(self, suffixes: Iterable[str], limit: int = 100_000) -> None:
        self.suffixes = tuple(suffixes)
        self.limit = limit
        self._known: dict[str, bool] = {}
        self._histograms: dict[str, None] = {}  # families of histograms and summaries, in learning order

    def learn(self, family: str, kind: int) -> None:
        """Record a family's type; an unknown type (0, or one newer than this code) tells nothing."""
        for suffix, cumulative in _SERIES.get(kind, ()):
            name = family + suffix
            self._known.pop(name, None)  # re-inserted last: recently described names are kept longest
            self._known[name] = cumulative
        while len(self._known) > self.limit:
            del self._known[next(iter(self._known))]
        self._histograms.pop(family, None)
        if kind in (HISTOGRAM, SUMMARY):
            self._histograms[family] = None
            if len(self._histograms) > self.limit:
                del self._histograms[next(iter(self._histograms))]

    def learn_series(self, name: str, kind: int) -> None:
        """Record the type of one series (remote write 2.0 sends it with each): its family is the name
        without the suffix that type writes (``x_bucket`` of a histogram is family ``x``).

        >>> types = MetricTypes([])
        >>> types.learn_series("rpc_seconds_count", HISTOGRAM)
        >>> types.histogram_part("rpc_seconds_sum"), types.is_cumulative("rpc_seconds_bucket")
        (('rpc_seconds', False), True)
        """
        suffixes = sorted((s for s, _ in _SERIES.get(kind, ()) if s), key=len, reverse=True)
        family = next((name[: -len(s)] for s in suffixes if name.endswith(s) and len(name) > len(s)), name)
        self.learn(family, kind)

    def histogram_part(self, name: str) -> tuple[str, bool] | None:
        """``(family, is_count)`` when ``name`` is the ``_count`` or ``_sum`` of a histogram or summary
        family known from metadata; else None."""
        for suffix, is_count in (("_count", True), ("_sum", False)):
            if name.endswith(suffix) and name[: -len(suffix)] in self._histograms:
                return name[: -len(suffix)], is_count
        return None

    def is_cumulative(self, name: str) -> bool:
        known = self._known.get(name)
        if known is not None:
            return known
        return bool(self.suffixes) and name.endswith(self.suffixes)

    def __len__(self) -> int:
        return len(self._known)
