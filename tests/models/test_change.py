"""The Page-Hinkley change test: quiet on noise, fast on a shift, and it says where the shift began."""

from __future__ import annotations

import random

import pytest

from forewarn.models.change import PageHinkley

pytestmark = pytest.mark.unit


def test_a_two_sigma_shift_is_found_within_a_few_points_and_dated() -> None:
    rng = random.Random(1)
    test = PageHinkley()
    alarms = [test.update(rng.gauss(0.0, 1.0) + (2.0 if i >= 200 else 0.0), i) for i in range(230)]
    found = [(i, start) for i, start in enumerate(alarms) if start is not None]
    assert found, "no alarm on a 2-sigma shift"
    first, start = found[0]
    assert 200 <= first <= 212  # a handful of points after the shift (expected ~4)
    assert 195 <= start <= 201  # and it dates the shift to where it began


def test_downward_shifts_count_too_and_the_sums_restart_after_an_alarm() -> None:
    test = PageHinkley(drift=0.5, threshold=5.0)
    assert [test.update(-3.0, i) for i in range(4)] == [None, None, 0, None]  # 2.5, 5.0, 7.5 > 5 at i=2
    assert (test.up, test.down) == (0.0, 2.5)  # restarted at i=2, then one more point


def test_noise_rarely_alarms() -> None:
    rng = random.Random(7)
    test = PageHinkley()
    alarms = sum(test.update(rng.gauss(0.0, 1.0), i) is not None for i in range(10_000))
    assert alarms <= 40  # h=5, k=0.5: the two-sided run length is a few hundred points on average


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        PageHinkley(threshold=0.0)
    with pytest.raises(ValueError):
        PageHinkley(drift=-1.0)
