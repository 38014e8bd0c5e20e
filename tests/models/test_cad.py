"""Behaviour of the contextual (CAD-style) detector beyond the generic contract suite.

Why these cases: CAD's point is *sequence* novelty, so the tests check that a learned rhythm goes
quiet, that a break in the rhythm with ordinary-sized values is flagged (which a distance-based
detector cannot see), that scoring does not learn, and that the memory cap holds.
"""

from __future__ import annotations

import pickle

import pytest

from forewarn.models.cad import ContextDetector

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0
PATTERN = [0.0, 2.0, 5.0, 7.0, 5.0, 2.0]


def _feed(model: ContextDetector, values: list[float]) -> list[float]:
    scores = []
    for i, v in enumerate(values):
        x = {"value": v}
        scores.append(model.score_one(x, T0 + 60.0 * i).score)
        model.learn_one(x, T0 + 60.0 * i)
    return scores


def test_a_learned_rhythm_goes_quiet_and_a_broken_one_is_flagged() -> None:
    model = ContextDetector(rest_period=5)
    learned = _feed(model, PATTERN * 60)
    assert max(learned[-60:]) < 0.3  # the rhythm is known: contexts predict every step
    # same values, wrong order: nothing is out of range, only the sequence is new
    broken = _feed(model, [7.0, 0.0, 7.0, 0.0, 2.0, 7.0])
    assert max(broken) > 0.6


def test_score_one_does_not_learn() -> None:
    model = ContextDetector()
    _feed(model, PATTERN * 20)
    before = pickle.dumps(model)
    for v in (0.0, 7.0, 100.0, -50.0):
        model.score_one({"value": v}, T0)
    assert pickle.dumps(model) == before


def test_scoring_then_learning_equals_learning_alone() -> None:
    """The plan cached by score_one is the same step learn_one would compute on its own."""
    scored, plain = ContextDetector(), ContextDetector()
    values = [float((i * 7) % 11) for i in range(400)]
    _feed(scored, values)
    for i, v in enumerate(values):
        plain.learn_one({"value": v}, T0 + 60.0 * i)
    assert pickle.dumps(scored) == pickle.dumps(plain)


def test_memory_is_capped() -> None:
    model = ContextDetector(max_contexts=50)
    _feed(model, [float((i * 37) % 101) for i in range(1500)])
    assert len(model.contexts) <= 50


def test_rest_period_reports_one_alert_per_incident() -> None:
    model = ContextDetector(rest_period=20, base_threshold=0.75)
    _feed(model, PATTERN * 60)
    scores = _feed(model, [30.0, -30.0, 30.0, -30.0, 30.0, -30.0, 30.0, -30.0])
    assert scores[0] >= 0.75
    assert all(s == 0.0 for s in scores[1:])


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        ContextDetector(value_bits=0)
    with pytest.raises(ValueError):
        ContextDetector(max_contexts=3)


def test_headroom_makes_range_widening_rare() -> None:
    """A slowly rising series re-maps its bins a few times with headroom, on every new high without."""
    rising = [float(i) for i in range(200)]
    for headroom, most in ((1.0, 12), (0.0, 200)):
        model = ContextDetector(range_headroom=headroom)
        widenings = 0
        for i, v in enumerate(rising):
            before = (model.lo, model.hi)
            model.learn_one({"value": v}, T0 + i)
            widenings += (model.lo, model.hi) != before
        assert widenings <= most
    assert ContextDetector(range_headroom=0.0).range_headroom == 0.0


def test_known_range_is_used_from_the_start() -> None:
    model = ContextDetector(value_range=(0.0, 100.0))
    model.learn_one({"value": 50.0}, T0)
    assert (model.lo, model.hi) == (0.0, 100.0)


def test_ensemble_flags_what_either_part_flags() -> None:
    from forewarn.models.ensemble import LikelihoodContextDetector

    model = LikelihoodContextDetector()
    values = PATTERN * 80
    for i, v in enumerate(values):
        model.score_one({"value": v}, T0 + 60.0 * i)
        model.learn_one({"value": v}, T0 + 60.0 * i)
    # ordinary values in an unseen order: only the contextual part can see it
    t = T0 + 60.0 * len(values)
    broken = [model.score_one({"value": 7.0}, t)]
    model.learn_one({"value": 7.0}, t)
    broken.append(model.score_one({"value": 0.0}, t + 60))
    assert max(s.score for s in broken) >= 0.5
    with pytest.raises(ValueError):
        LikelihoodContextDetector(context_weight=1.5)
