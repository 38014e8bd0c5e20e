"""TrendForecaster's two memories: warnings from the main line, time to exhaustion from the better one."""

from __future__ import annotations

import pickle
import random

import pytest

from forewarn.models.trend import TrendForecaster
from tests.factories import demo_pool_usage

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0


def _flat_then_leak(model: TrendForecaster, seed: int = 4) -> float:
    """Two flat hours at 40, then +1 per minute: returns the true minutes left when feeding stops."""
    rng = random.Random(seed)
    for i in range(120):
        model.learn_one(40.0 + rng.gauss(0.0, 0.5), T0 + 60.0 * i)
    for k in range(1, 21):  # 20 minutes into the leak: at 60, 40 minutes before 100
        model.learn_one(40.0 + k + rng.gauss(0.0, 0.5), T0 + 60.0 * (119 + k))
    return 100.0 - 60.0


def test_after_a_flat_stretch_the_time_to_exhaustion_follows_the_new_rate() -> None:
    two, one = TrendForecaster(seasonal_bins=0), TrendForecaster(seasonal_bins=0, fast_halflife_seconds=None)
    truth = _flat_then_leak(two)
    _flat_then_leak(one)
    tte_two = two.forecast(0.0, threshold=100.0).time_to_exhaustion_seconds
    tte_one = one.forecast(0.0, threshold=100.0).time_to_exhaustion_seconds
    assert tte_two is not None and tte_one is not None
    assert two.rate_line == 1  # the fast line predicted the leak better
    assert abs(tte_two / 60.0 - truth) < 0.5 * abs(tte_one / 60.0 - truth)
    assert tte_two / 60.0 == pytest.approx(truth, rel=0.4)  # 53 min for 40 (the main line alone: 255)


def test_warnings_do_not_depend_on_the_fast_line() -> None:
    """Point, interval, P(breach), confidence: all from the main line (a 30-min batch climb must not page)."""
    two, one = TrendForecaster(seasonal_bins=0), TrendForecaster(seasonal_bins=0, fast_halflife_seconds=None)
    _flat_then_leak(two)
    _flat_then_leak(one)
    a, b = two.forecast(3600.0, threshold=100.0), one.forecast(3600.0, threshold=100.0)
    assert (a.point, a.lower, a.upper, a.breach_probability, a.confidence) == (
        b.point,
        b.lower,
        b.upper,
        b.breach_probability,
        b.confidence,
    )
    assert two.growth_rate_per_day() == one.growth_rate_per_day()


def test_on_a_steady_trend_the_main_line_keeps_the_answer() -> None:
    model = TrendForecaster(seasonal_bins=0)
    rng = random.Random(2)
    for i in range(600):
        model.learn_one(10.0 + i / 60.0 + rng.gauss(0.0, 0.5), T0 + 60.0 * i)
    assert model.rate_line == 0


def test_a_snapshot_from_before_the_two_lines_still_loads() -> None:
    """Bytewax recovery may hold the old layout (seven sums on the object): it loads as one line."""
    one = TrendForecaster(seasonal_bins=0, fast_halflife_seconds=None)
    _flat_then_leak(one)
    state = dict(one.__dict__)
    line = state.pop("lines")[0]
    for name in (
        "errors",
        "rate_line",
        "fast_halflife_seconds",
        "change_threshold",
        "change_memory",
        "imminent_seconds",
    ):
        state.pop(name)
    for name in ("change", "changes", "refit_index", "recent_t", "recent_y", "max_extrapolation", "first_t"):
        state.pop(name)
    state.update({k: getattr(line, k) for k in ("s0", "s0sq", "s1", "s2", "sy", "sty", "syy")})
    old = TrendForecaster.__new__(TrendForecaster)
    old.__setstate__(state)
    restored = pickle.loads(pickle.dumps(old))
    assert restored.forecast(600.0, threshold=100.0) == one.forecast(600.0, threshold=100.0)
    with pytest.raises(ValueError):
        TrendForecaster(fast_halflife_seconds=0.0)


def _sudden_leak(model: TrendForecaster, seed: int, seconds_in: int) -> float:
    """The demo's pool: 50 connections, 6 +-2 in use for 30 s at 1 s probes, then 0.5 leaked per second.

    Returns the true seconds left after ``seconds_in`` seconds of leak.
    """
    for i, value in enumerate(demo_pool_usage(random.Random(seed), 30, 30 + seconds_in + 1)):
        model.learn_one(value, T0 + i)
    return (44 - 0.5 * seconds_in) / 0.5


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_sudden_leak_is_timed_from_where_it_began(seed: int) -> None:
    """Ten seconds into a 90-second leak: the change test refits the fast line from the knee."""
    watched = TrendForecaster(halflife_seconds=1800.0, seasonal_bins=0)
    blind = TrendForecaster(halflife_seconds=1800.0, seasonal_bins=0, change_threshold=None)
    truth = _sudden_leak(watched, seed, 10)
    _sudden_leak(blind, seed, 10)
    tte = watched.forecast(0.0, threshold=1.0).time_to_exhaustion_seconds
    before = blind.forecast(0.0, threshold=1.0).time_to_exhaustion_seconds
    assert watched.changes >= 1 and tte is not None and before is not None
    assert 0.5 * truth <= tte <= 1.6 * truth  # 58-118 s for 78 s left (seeds 1-4)
    assert before > 4.0 * truth  # 397-584 s without the change test
    rate = watched.forecast(0.0, threshold=1.0).rate_per_second  # what the reason text shows
    assert rate is not None and 0.005 <= rate <= 0.02  # the leak's 0.01/s, not the main trend's
    assert watched.growth_rate_per_day() / 86_400.0 < 0.5 * rate
    # the warning side can only gain: the imminent-crossing rule may raise P(breach), never lower it
    p_watched = watched.forecast(900.0, threshold=1.0).breach_probability
    p_blind = blind.forecast(900.0, threshold=1.0).breach_probability
    assert p_watched is not None and p_blind is not None and p_watched >= p_blind
