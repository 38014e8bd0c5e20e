"""A level shift is taken in as a new level, not learned as noise (``models/level_shift.py``).

Why: after a deploy moved a gauge's level, the likelihood part learned the catching-up residuals as
its unit of surprise and then missed everything for thousands of events. ``shift_units=0`` is the
behaviour from before, so each test also shows the old code failing.
"""

from __future__ import annotations

import pickle
import random

import pytest

from forewarn.models.base import score_learn
from forewarn.models.cad import ContextDetector
from forewarn.models.ensemble import LikelihoodContextDetector
from forewarn.models.level_shift import ShiftRun
from forewarn.models.likelihood import LikelihoodDetector

STEP = 300.0  # five-minute points: 288 a day
DAY = 288


def _series(shift: float, spike: float = 15.0, seed: int = 7) -> list[float]:
    """Three days around 50 (sigma 2), then three days ``shift`` away, a spike on the last day."""
    rng = random.Random(seed)
    values = [50.0 + rng.gauss(0.0, 2.0) for _ in range(3 * DAY)]
    values += [50.0 + shift + rng.gauss(0.0, 2.0) for _ in range(3 * DAY)]
    values[5 * DAY + 60] += spike
    return values


def _scores(detector: LikelihoodDetector | LikelihoodContextDetector, values: list[float]) -> list[float]:
    return [score_learn(detector, {"value": v}, STEP * i).score for i, v in enumerate(values)]


@pytest.mark.parametrize("shift", [20.0, 100.0, -100.0])
def test_a_spike_after_a_shift_alerts_as_it_would_without_it(shift: float) -> None:
    spike_at = 5 * DAY + 60
    unshifted = _scores(LikelihoodDetector(), _series(0.0))
    assert unshifted[spike_at] >= 0.5
    old = _scores(LikelihoodDetector(shift_units=0.0), _series(shift))
    assert old[spike_at] < 0.5  # deaf: the tail learned from the level catching up
    new = _scores(LikelihoodDetector(), _series(shift))
    assert new[spike_at] >= 0.5
    # and nothing else alerts once the new level is taken in
    assert [i for i in range(4 * DAY, 6 * DAY) if new[i] >= 0.5] == [spike_at]


def test_the_new_level_hands_back_the_dispersion_from_before_it() -> None:
    detector = LikelihoodDetector()
    values = _series(100.0, spike=0.0)
    for i, v in enumerate(values[: 3 * DAY]):
        detector.learn_one({"value": v}, STEP * i)
    before = (detector.scale, detector.tail)
    for i, v in enumerate(values[3 * DAY : 4 * DAY + 10], start=3 * DAY):
        detector.learn_one({"value": v}, STEP * i)
    assert detector.level == pytest.approx(150.0, abs=1.0)
    assert detector.tail == pytest.approx(before[1], rel=0.2)
    assert detector.scale == pytest.approx(before[0], rel=0.5)


def test_a_burst_shorter_than_a_day_is_learned_as_before() -> None:
    """Bursts teach the tail (that is what the tail is for): a six-hour one changes nothing here."""
    rng = random.Random(5)
    values = [50.0 + rng.gauss(0.0, 2.0) for _ in range(4 * DAY)]
    for i in range(2 * DAY, 2 * DAY + 72):
        values[i] += 40.0
    old, new = LikelihoodDetector(shift_units=0.0), LikelihoodDetector()
    assert _scores(old, values) == _scores(new, values)
    assert (new.level, new.tail, new.scale) == (old.level, old.tail, old.scale)


def test_without_a_clock_a_run_of_the_levels_memory_is_a_new_level() -> None:
    """No timestamps, no period: ``1 / level_alpha`` events (100) make a new level."""
    rng = random.Random(2)
    values = [50.0 + rng.gauss(0.0, 2.0) for _ in range(600)] + [
        150.0 + rng.gauss(0.0, 2.0) for _ in range(400)
    ]
    values[900] += 15.0
    old, new = LikelihoodDetector(shift_units=0.0), LikelihoodDetector()
    old_scores = [score_learn(old, {"value": v}).score for v in values]
    new_scores = [score_learn(new, {"value": v}).score for v in values]
    assert old_scores[900] < 0.5 <= new_scores[900]
    assert new_scores[:700] == old_scores[:700]  # identical until the run's 100th event


def test_a_snapshot_taken_during_a_run_restores_it() -> None:
    values = _series(100.0)
    whole = LikelihoodDetector()
    scores = _scores(whole, values)
    half = LikelihoodDetector()
    cut = 3 * DAY + 100
    for i, v in enumerate(values[:cut]):
        score_learn(half, {"value": v}, STEP * i)
    assert isinstance(half.shift_run, ShiftRun)
    restored = LikelihoodDetector.restore(half.snapshot())
    rest = [score_learn(restored, {"value": v}, STEP * i).score for i, v in enumerate(values) if i >= cut]
    assert rest == scores[cut:]


def test_snapshots_from_before_the_rule_keep_their_behaviour() -> None:
    values = _series(100.0)
    detector = LikelihoodDetector()
    state = dict(detector.__dict__)
    for name in ("shift_units", "shift_periods", "shift_run", "shift_events"):
        del state[name]
    old = pickle.loads(pickle.dumps(detector))
    old.__dict__.clear()
    old.__dict__.update(state)
    assert _scores(old, values) == _scores(LikelihoodDetector(shift_units=0.0), values)


def test_the_contextual_part_refits_its_bins_to_the_new_level() -> None:
    """A shift less than CAD's range width past it widened the range over both levels for good."""

    def bins_after(shift_units: float) -> tuple[float, float]:
        detector = LikelihoodContextDetector(likelihood=LikelihoodDetector(shift_units=shift_units))
        _scores(detector, _series(20.0, spike=0.0))
        return detector.context.lo, detector.context.hi

    old_lo, old_hi = bins_after(0.0)
    new_lo, new_hi = bins_after(5.0)
    assert old_lo < 50.0  # the old level is still inside the bins
    assert 50.0 < new_lo < 70.0 < new_hi
    assert new_hi - new_lo < old_hi - old_lo


def test_refit_from_waits_for_the_online_range() -> None:
    given = ContextDetector(value_range=(0.0, 10.0))
    given.refit_from(50)
    assert given.refit_at == 0
    warming = ContextDetector()
    warming.refit_from(50)
    assert warming.refit_at == 0


def test_shift_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="shift_units"):
        LikelihoodDetector(shift_units=-1.0)
    with pytest.raises(ValueError, match="shift_periods"):
        LikelihoodDetector(shift_periods=0.0)


def _bins(detector: LikelihoodContextDetector | ContextDetector, values: list[float]) -> float:
    for i, v in enumerate(values):
        score_learn(detector, {"value": v}, STEP * i)
    context = detector.context if isinstance(detector, LikelihoodContextDetector) else detector
    return context.hi - context.lo


def test_a_confirmed_new_level_gets_half_a_span_of_headroom() -> None:
    """The whole day of the new level is replayed: its bins get half a span each side, not a span."""
    values = _series(20.0, spike=0.0)

    def width(headroom: float) -> float:
        context = ContextDetector(online_record=False, refit_headroom=headroom)
        return _bins(LikelihoodContextDetector(context=context), values)

    assert width(0.5) == pytest.approx(width(1.0) * 2.0 / 3.0, rel=0.1)


def test_cads_own_refit_after_a_far_shift_keeps_the_warm_up_headroom() -> None:
    """CAD alone knows only its replay window, so ``refit_headroom`` does not apply to it."""
    values = _series(100.0, spike=0.0)
    assert _bins(ContextDetector(refit_headroom=0.5), values) == _bins(
        ContextDetector(refit_headroom=1.0), values
    )


def test_cad_snapshots_from_before_the_refit_headroom_refit_as_they_did() -> None:
    detector = ContextDetector()
    state = detector.__getstate__()
    del state["refit_headroom"], state["refit_told"]
    restored = ContextDetector.__new__(ContextDetector)
    restored.__setstate__(state)
    assert (restored.refit_headroom, restored.refit_told) == (1.0, False)


def test_two_far_values_a_day_apart_are_no_new_level() -> None:
    """A daily series: a batch that ran large on two days in a row is no new level."""
    rng = random.Random(4)
    values = [50.0 + rng.gauss(0.0, 2.0) for _ in range(60)]
    values[40] = values[41] = 150.0
    day = 86_400.0
    old, new = LikelihoodDetector(shift_units=0.0), LikelihoodDetector()
    old_scores = [score_learn(old, {"value": v}, day * i).score for i, v in enumerate(values)]
    new_scores = [score_learn(new, {"value": v}, day * i).score for i, v in enumerate(values)]
    assert new.shift_events == 0  # no new level was taken in
    assert new_scores == old_scores


def _spiked(seed: int = 9) -> list[float]:
    """Four days around 50 (sigma 2), one absurd value after a day, a real 8-sigma spike two days later."""
    rng = random.Random(seed)
    values = [50.0 + rng.gauss(0.0, 2.0) for _ in range(4 * DAY)]
    values[DAY] = 50_000.0
    values[3 * DAY] += 16.0
    return values


def test_likelihood_alone_forgets_a_lone_absurd_value() -> None:
    """One broken scrape no longer leaves the likelihood detector deaf to a real spike a day later."""
    values = _spiked()
    old = _scores(LikelihoodDetector(forget_spikes=False), values)
    new = _scores(LikelihoodDetector(), values)
    assert old[DAY] >= 0.5 and new[DAY] >= 0.5  # the scrape itself alerts either way
    assert old[3 * DAY] < 0.5 <= new[3 * DAY]


def test_a_far_value_followed_by_another_is_learned_as_before() -> None:
    values = _spiked()
    values[DAY + 1] = 50_000.0  # two in a row: a burst (or a shift), not a lone spike
    old, new = LikelihoodDetector(forget_spikes=False), LikelihoodDetector()
    for detector in (old, new):
        for i, v in enumerate(values[: DAY + 3]):
            score_learn(detector, {"value": v}, STEP * i)
    assert (new.level, new.scale, new.tail) == (old.level, old.scale, old.tail)


def test_the_wrappers_keep_lone_spikes() -> None:
    """CAD's bins and the record rule carry them past a spike; forgetting cost them clean points."""
    from forewarn.models.record import RecordLikelihoodDetector

    assert not LikelihoodContextDetector().likelihood.forget_spikes
    assert not RecordLikelihoodDetector().likelihood.forget_spikes
    assert LikelihoodDetector().forget_spikes
