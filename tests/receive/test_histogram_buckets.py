"""remote_write histograms give their quantiles between scrapes, read from the buckets as PromQL does.

A real Prometheus computing ``histogram_quantile`` on the same histogram, against the receiver's
``_p99``, is in ``test_prometheus_capacity.py``.
"""

from __future__ import annotations

import json
import math

import httpx
import pytest

from forewarn.collect.histogram_buckets import BucketQuantiles, bucket_quantile, quantile_name
from forewarn.collect.histogram_pairs import HistogramPairs
from forewarn.collect.metric_types import HISTOGRAM, MetricTypes

from .running import ListPublisher
from .test_remote_write import HEADERS, NOW_MS, convert, receiver, write_request

pytestmark = pytest.mark.unit
__all__ = ["receiver"]  # the fixture, imported for the door test

INF = math.inf
Bucket = tuple[dict[str, str], list[tuple[float, int]]]


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, [(0.1, 50), (0.5, 90), (1.0, 100), (INF, 100)], 0.1),  # the rank at a bound
        (0.75, [(0.1, 50), (0.5, 90), (1.0, 100), (INF, 100)], 0.1 + 0.4 * 25 / 40),  # linear in (0.1, 0.5]
        (0.25, [(0.1, 50), (0.5, 90), (1.0, 100), (INF, 100)], 0.05),  # the first bucket starts at 0
        (0.99, [(0.1, 50), (0.5, 90), (INF, 100)], 0.5),  # in +Inf: the largest finite bound
        (0.75, [(-1.0, 10), (0.0, 20), (INF, 20)], -0.5),  # linear from the bound below, even negative
        (0.5, [(-1.0, 10), (0.0, 20), (INF, 20)], -1.0),  # in a first bucket bounded <= 0: its bound
        (0.5, [(0.1, 60), (0.5, 55), (INF, 100)], 0.1 * 50 / 60),  # 55 is lifted to 60: none in (0.1, 0.5]
        (0.5, [(0.1, 0), (INF, 0)], None),  # no observations
        (0.5, [(0.1, 5), (0.5, 10)], None),  # no +Inf bucket
        (0.5, [(INF, 10)], None),  # +Inf alone
    ],
)
def test_quantiles_are_read_as_promql_reads_a_classic_histogram(
    q: float, buckets: list[tuple[float, float]], expected: float | None
) -> None:
    found = bucket_quantile(q, buckets)
    assert found == expected if expected is None else found == pytest.approx(expected)


def test_names_say_the_percentile() -> None:
    assert [quantile_name("rpc_seconds", q) for q in (0.5, 0.99, 0.999)] == [
        "rpc_seconds_p50",
        "rpc_seconds_p99",
        "rpc_seconds_p99_9",
    ]
    with pytest.raises(ValueError, match="in"):
        BucketQuantiles([1.0])


def _scrape(at: int, counts: dict[str, float], **labels: str) -> list[Bucket]:
    return [
        ({"__name__": "rpc_seconds_bucket", "job": "web", "le": le, **labels}, [(c, NOW_MS + at)])
        for le, c in counts.items()
    ]


def _quantiles(
    buckets: BucketQuantiles, *series: Bucket, keep: bool = False
) -> tuple[list[tuple[str, float, int]], dict[str, int]]:
    samples, dropped = convert(write_request(*series), buckets=buckets, keep_buckets=keep)
    found = [(s.name, round(s.value, 9), int(s.timestamp.timestamp() * 1000) - NOW_MS) for s in samples]
    return found, dropped


LAYOUT = ("0.1", "0.5", "+Inf")


def _counts(*values: float) -> dict[str, float]:
    return dict(zip(LAYOUT, values, strict=True))


def test_a_scrape_split_over_requests_and_arriving_late_still_gives_each_interval() -> None:
    """Prometheus' shards send buckets apart, so one of the next scrape may come before this one's last."""
    buckets = BucketQuantiles([0.5])
    first, second, third = (
        _scrape(0, _counts(0, 0, 0)),
        _scrape(15_000, _counts(8, 10, 10)),
        _scrape(30_000, _counts(8, 18, 20)),
    )
    found, dropped = _quantiles(buckets, *first, *second[:2])
    assert found == [] and dropped == {"histogram_bucket": 5}, "the buckets are dropped, no interval yet"
    found, _ = _quantiles(buckets, *third[:1], *second[2:], *third[1:])  # 30 s's first bucket comes early
    assert found == [("rpc_seconds_p50", 0.0625, 15_000), ("rpc_seconds_p50", 0.35, 30_000)]
    # 15 s: 8 of 10 under 0.1 -> the 5th at 5/8 of it; 30 s: 0 of 10 under 0.1, 8 in (0.1, 0.5]


def test_a_restart_counts_from_zero_and_changed_bounds_start_over() -> None:
    buckets = BucketQuantiles([0.5])
    found, _ = _quantiles(
        buckets,
        *_scrape(0, _counts(0, 0, 0)),
        *_scrape(15_000, _counts(50, 100, 100)),
        *_scrape(30_000, _counts(50, 200, 200)),
        *_scrape(45_000, _counts(4, 4, 4)),  # restarted: 4 requests since, all fast
    )
    assert found == [
        ("rpc_seconds_p50", 0.1, 15_000),
        ("rpc_seconds_p50", 0.3, 30_000),
        ("rpc_seconds_p50", 0.05, 45_000),
    ]
    new = {"0.1": 5.0, "0.25": 5.0, "0.5": 5.0, "+Inf": 5.0}  # a new release with a bound more
    found, _ = _quantiles(buckets, *_scrape(60_000, new), *_scrape(75_000, new), *_scrape(90_000, new))
    assert found == [], "no quantile across two layouts, nor from an interval with no requests"
    after = {"0.1": 5.0, "0.25": 15.0, "0.5": 15.0, "+Inf": 15.0}
    found, _ = _quantiles(buckets, *_scrape(105_000, after))
    assert found == [("rpc_seconds_p50", 0.175, 105_000)], "the new layout, once it is the baseline"


def test_each_label_set_is_its_own_histogram_and_buckets_can_be_kept() -> None:
    buckets = BucketQuantiles([0.99])
    series = [
        bucket
        for at, n in ((0, 0), (15_000, 10), (30_000, 20))
        for route in ("/a", "/b")
        for bucket in _scrape(at, _counts(n, n, n), route=route)
    ]
    samples, dropped = convert(write_request(*series), buckets=buckets, keep_buckets=True)
    quantiles = [s for s in samples if s.name == "rpc_seconds_p99"]
    assert sorted(s.labels["route"] for s in quantiles) == ["/a", "/a", "/b", "/b"]
    assert all("le" not in s.labels and s.value == pytest.approx(0.099) for s in quantiles)
    assert dropped == {} and sum(s.name == "rpc_seconds_bucket" for s in samples) == 18


def test_the_remote_write_door_publishes_p99_and_not_the_buckets(receiver: tuple[str, ListPublisher]) -> None:
    url, publisher = receiver
    for at, counts in (
        (0, _counts(0, 0, 0)),
        (15_000, _counts(90, 100, 100)),
        (30_000, _counts(180, 200, 200)),
    ):
        response = httpx.post(
            f"{url}/api/v1/write", content=write_request(*_scrape(at, counts)), headers=HEADERS
        )
        assert response.status_code == 204, response.text
    sent = [json.loads(value) for _, _, value in publisher.sent]
    assert [(e["name"], round(e["value"], 9)) for e in sent] == [
        ("rpc_seconds_p99", 0.46),
        ("rpc_seconds_p99", 0.46),
    ]


def test_a_request_holding_several_scrapes_series_by_series_gives_every_interval() -> None:
    """Prometheus catching up (after an outage of the receiver) sends each series' samples together:
    all scrapes of one bucket, then of the next. The mean's pairs are read scrape by scrape too."""
    types = MetricTypes([])
    types.learn("rpc_seconds", HISTOGRAM)
    scrapes = [(at, _counts(n, 2 * n, 2 * n)) for at, n in ((0, 0), (15_000, 5), (30_000, 10), (45_000, 15))]
    by_series: list[Bucket] = [
        (
            {"__name__": "rpc_seconds_bucket", "job": "web", "le": le},
            [(c[le], NOW_MS + at) for at, c in scrapes],
        )
        for le in LAYOUT
    ]
    by_series.append(
        ({"__name__": "rpc_seconds_count", "job": "web"}, [(c["+Inf"], NOW_MS + at) for at, c in scrapes])
    )
    by_series.append(
        ({"__name__": "rpc_seconds_sum", "job": "web"}, [(c["+Inf"] / 4, NOW_MS + at) for at, c in scrapes])
    )
    samples, _ = convert(
        write_request(*by_series),
        buckets=BucketQuantiles([0.5]),
        pairs=HistogramPairs(types),
        keep_buckets=False,
    )
    derived = [
        (s.name, round(s.value, 9)) for s in samples if s.name in ("rpc_seconds_p50", "rpc_seconds_mean")
    ]
    assert sorted(derived) == [("rpc_seconds_mean", 0.25)] * 3 + [("rpc_seconds_p50", 0.1)] * 3
