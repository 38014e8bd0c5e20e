"""Native histograms in remote-write requests, encoded with the receiver's own descriptor.

The real sender, Prometheus 2.42 scraping a native histogram, is ``test_prometheus_native.py``; here
each rule is pinned down: float histograms, gauge histograms, negative buckets, stale markers.
"""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime
from typing import Any

import pytest

from forewarn.collect.exponential_buckets import QuantileReaders
from forewarn.collect.histogram_pairs import HistogramPairs
from forewarn.collect.metric_types import MetricTypes
from forewarn.collect.remote_write import WriteRequest, samples_from_write_request
from forewarn.events import MetricSample

pytestmark = pytest.mark.unit

NOW_MS = int(datetime.now(UTC).timestamp() * 1000)
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


class Receiver:
    """The remote-write conversion with the state a receiver keeps between requests."""

    def __init__(self, quantiles: tuple[float, ...] = (0.5, 0.99)) -> None:
        self.pairs = HistogramPairs(MetricTypes(()))
        self.native = QuantileReaders(quantiles)

    def send(self, **histogram: Any) -> tuple[dict[str, MetricSample], dict[str, int]]:
        request = WriteRequest()
        series = request.timeseries.add()
        series.labels.add(name="__name__", value="rpc_seconds")
        series.labels.add(name="job", value="api")
        series.histograms.add(timestamp=NOW_MS, **histogram)
        converted = samples_from_write_request(
            request, service_labels=["job"], default_service="x", pairs=self.pairs, native=self.native
        )
        events = {e.name: e for e in converted.events if isinstance(e, MetricSample)}
        return events, dict(converted.dropped)


def test_a_float_histogram_gives_count_sum_mean_and_quantiles() -> None:
    receiver = Receiver()
    spans = [{"offset": 1, "length": 2}]  # Prometheus' buckets 1 and 2: (1, 2] and (2, 4]
    first, _ = receiver.send(
        count_float=10, sum=15.0, schema=0, positive_spans=spans, positive_counts=[10, 0]
    )
    assert set(first) == {"rpc_seconds_count", "rpc_seconds_sum"}, "a first sample: no interval yet"
    events, dropped = receiver.send(
        count_float=110, sum=315.0, schema=0, positive_spans=spans, positive_counts=[10, 100]
    )
    assert not dropped
    assert (events["rpc_seconds_count"].value, events["rpc_seconds_count"].cumulative) == (110.0, True)
    assert events["rpc_seconds_mean"].value == 3.0, "300 s over the interval's 100 requests"
    assert events["rpc_seconds_p50"].value == pytest.approx(3.0), "halfway into (2, 4]"
    assert events["rpc_seconds_p99"].value == pytest.approx(3.98)
    assert events["rpc_seconds_p99"].cumulative is False
    assert events["rpc_seconds_p99"].labels == {"job": "api"}, "the histogram's labels"


def test_negative_buckets_and_the_zero_bucket_order_the_values() -> None:
    receiver = Receiver(quantiles=(0.25, 0.5))
    # a gauge histogram (reset hint 3): each sample a distribution of its own. 2 values in [-4, -2),
    # 2 within the zero threshold, none above
    events, _ = receiver.send(
        count_int=4,
        sum=-6.0,
        schema=0,
        zero_threshold=0.001,
        zero_count_int=2,
        negative_spans=[{"offset": 2, "length": 1}],
        negative_deltas=[2],
        reset_hint=3,
    )
    assert events["rpc_seconds_count"].cumulative is False, "a gauge histogram is no counter"
    assert events["rpc_seconds_mean"].value == -1.5
    assert events["rpc_seconds_p25"].value == pytest.approx(-3.0), "halfway through [-4, -2)"
    assert events["rpc_seconds_p50"].value == pytest.approx(-2.0), "the top of the negative bucket"


def test_a_stale_marker_and_a_restart() -> None:
    receiver = Receiver(quantiles=(0.5,))
    spans = [{"offset": 1, "length": 1}]
    receiver.send(count_int=50, sum=75.0, schema=0, positive_spans=spans, positive_deltas=[50])
    events, dropped = receiver.send(sum=STALE_NAN, schema=0)
    assert events == {} and dropped == {"not_finite": 1}, "the series went away: nothing to learn"
    restarted, _ = receiver.send(count_int=4, sum=6.0, schema=0, positive_spans=spans, positive_deltas=[4])
    assert restarted["rpc_seconds_mean"].value == 1.5, "a count that went down: all since the restart"
    assert restarted["rpc_seconds_p50"].value == pytest.approx(1.5)
    assert math.isfinite(restarted["rpc_seconds_sum"].value)


def test_malformed_buckets_give_no_quantile_and_never_raise() -> None:
    receiver = Receiver(quantiles=(0.5,))
    gauge = {"schema": 0, "reset_hint": 3}  # each sample its own distribution: no earlier one needed
    spans = [{"offset": 1, "length": 2}]
    events, dropped = receiver.send(
        count_float=5, sum=7.0, positive_spans=spans, positive_counts=[4, 1], **gauge
    )
    assert events["rpc_seconds_p50"].value == pytest.approx(1.625), "well-formed: 2.5 of 4 into (1, 2]"
    events, dropped = receiver.send(
        count_float=5, sum=7.0, positive_spans=spans, positive_counts=[math.nan, 5.0], **gauge
    )
    assert set(events) == {"rpc_seconds_count", "rpc_seconds_sum", "rpc_seconds_mean"}, "no quantile from NaN"
    assert not dropped
    events, _ = receiver.send(count_float=6, sum=8.0, zero_threshold=math.nan, zero_count_float=6, **gauge)
    assert "rpc_seconds_p50" not in events, "a threshold that is not a number"
    far = [{"offset": 2**31 - 1, "length": 10**9}]
    events, _ = receiver.send(
        count_int=3, sum=3.0, positive_spans=far, positive_deltas=[3], **{**gauge, "schema": 40}
    )
    assert "rpc_seconds_p50" not in events, "a scale out of range and a span past its counts"


def test_custom_buckets_are_read_as_explicit_ones() -> None:
    receiver = Receiver(quantiles=(0.5, 0.99))
    custom = {"schema": -53, "custom_values": [0.1, 0.5, 1.0], "positive_spans": [{"offset": 0, "length": 4}]}
    receiver.send(count_int=10, sum=1.0, positive_deltas=[10, -10, 0, 0], **custom)  # 10 within 0.1
    # 10 more within 0.1, 90 in (0.1, 0.5], 0 in (0.5, 1] and 0 past 1: the interval's 100
    events, dropped = receiver.send(count_int=110, sum=30.0, positive_deltas=[20, 70, -90, 0], **custom)
    assert not dropped
    assert events["rpc_seconds_p50"].value == pytest.approx(0.1 + 0.4 * 40 / 90)
    assert events["rpc_seconds_p99"].value == pytest.approx(0.1 + 0.4 * 89 / 90)
    falling = {**custom, "custom_values": [0.5, 0.1, 1.0]}
    events, _ = receiver.send(count_int=120, sum=31.0, positive_deltas=[30, 60, -90, 0], **falling)
    assert "rpc_seconds_p99" not in events, "bounds that do not rise: no quantile"
