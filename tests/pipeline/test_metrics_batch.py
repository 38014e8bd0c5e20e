"""``observe_many`` must expose what one ``observe`` per value exposes (it adds to the client's buckets)."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Histogram

from forewarn.pipeline.metrics import LAG_BUCKETS, observe_many

pytestmark = pytest.mark.unit


def _histogram() -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    return registry, Histogram("lag_seconds", "test", buckets=LAG_BUCKETS, registry=registry)


def test_observe_many_exposes_what_observe_does() -> None:
    rng = random.Random(3)
    # on every bound, just past it, far past the last one, zero, and a spread in between
    values = [0.0, *LAG_BUCKETS, *(b * 1.0001 for b in LAG_BUCKETS), 1e7]
    values += [rng.expovariate(0.5) for _ in range(2_000)]
    one_by_one, plain = _histogram()
    batched, many = _histogram()
    for value in values:
        plain.observe(value)
    observe_many(many, values[:700])
    observe_many(many, values[700:])
    observe_many(many, [])
    assert _samples(batched) == _samples(one_by_one)
    got, want = _sum(batched), _sum(one_by_one)
    assert got == pytest.approx(want, rel=1e-12)  # the same values, summed in another order


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every bucket and count sample (the sum is compared apart; _created differs by construction)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
        if s.name.endswith(("_bucket", "_count"))
    }


def _sum(registry: CollectorRegistry) -> float:
    value = registry.get_sample_value("lag_seconds_sum")
    assert value is not None
    return value


def test_a_client_without_the_bucket_layout_gets_observe() -> None:
    seen: list[float] = []

    class Plain:
        def observe(self, value: float) -> None:
            seen.append(value)

    observe_many(Plain(), [0.2, 3.0])  # type: ignore[arg-type]
    assert seen == [0.2, 3.0]
