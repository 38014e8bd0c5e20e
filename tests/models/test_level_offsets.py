"""Scale-freedom at levels far above the noise: a byte counter or an epoch timestamp as a gauge.

Why: a series whose level is 10^7-10^9 times its noise is an ordinary Prometheus gauge, and the
detectors once lost its anomalies there (the likelihood detector's unit floored at 10^-6 of the
level, CAD's replay buffer rounding the values themselves to float32). So did a series whose noise is
far below 10^-9 (the unit floored at 10^-9 on top). Shifting a series by such a level, or changing its
unit, must leave the alerts where they were.
"""

from __future__ import annotations

import pickle
import random

import pytest

from forewarn.models.base import score_learn
from forewarn.models.cad import ContextDetector
from forewarn.models.ensemble import LikelihoodContextDetector
from forewarn.models.likelihood import LikelihoodDetector
from forewarn.models.record import RecordLikelihoodDetector

FACTORIES = {
    "likelihood": LikelihoodDetector,
    "cad": ContextDetector,
    "likelihood_cad": LikelihoodContextDetector,
    "likelihood_record": RecordLikelihoodDetector,
}


def _series() -> list[float]:
    """Noise around 50 (sigma 2), a level shift of 6 sigma, a spike, a dip: each must alert."""
    rng = random.Random(3)
    values = [50.0 + rng.gauss(0.0, 2.0) for _ in range(900)]
    values += [62.0 + rng.gauss(0.0, 2.0) for _ in range(300)]
    values += [95.0] + [62.0 + rng.gauss(0.0, 2.0) for _ in range(300)] + [20.0]
    return values


def _scores(name: str, values: list[float]) -> list[float]:
    detector = FACTORIES[name]()
    return [score_learn(detector, {"value": v}, 60.0 * i).score for i, v in enumerate(values)]


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize(
    ("scale", "offset"), [(1.0, 1e7), (1.0, -1e9), (1000.0, 0.0), (0.001, 0.0), (1e-12, 0.0), (1e-12, 1e-9)]
)
def test_alerts_do_not_move_with_the_level_or_the_unit(name: str, scale: float, offset: float) -> None:
    values = _series()
    base = _scores(name, values)
    moved = _scores(name, [scale * v + offset for v in values])
    assert max(base[900:]) >= 0.5  # the stream does alert
    assert [s >= 0.5 for s in base] == [s >= 0.5 for s in moved]
    assert max(abs(a - b) for a, b in zip(base, moved, strict=True)) < 1e-3


def test_cad_snapshots_from_before_the_offsets_replay_their_values() -> None:
    """Before the anchor, ``recent`` held the values themselves: they restore with an anchor of 0."""
    model = ContextDetector()
    for v in _series()[:400]:
        score_learn(model, {"value": v})
    model.recent = type(model.recent)("f", [model.anchor + v for v in model.recent])
    del model.__dict__["anchor"]
    restored = pickle.loads(pickle.dumps(model))
    assert restored.anchor == 0.0
    fresh = ContextDetector()
    for v in _series()[:400]:
        score_learn(fresh, {"value": v})
    restored._relearn(restored.lo, restored.hi)  # a replay over the restored buffer
    fresh._relearn(fresh.lo, fresh.hi)
    rest = _series()[400:1300]
    assert [score_learn(restored, {"value": v}).score for v in rest] == [
        score_learn(fresh, {"value": v}).score for v in rest
    ]


@pytest.mark.parametrize("level", [1e9, 1.0, 1e-6, 1e-12])
def test_a_flat_series_does_not_alarm_on_float_rounding(level: float) -> None:
    """The unit floor (10^-12 of the level) stays far above float64's rounding of a flat series."""
    rng = random.Random(8)
    ulp = level * 2.0**-52
    values = [level + ulp * rng.choice((-2, -1, 0, 1, 2)) for _ in range(1500)]
    detector = LikelihoodDetector()
    scores = [score_learn(detector, {"value": v}, 60.0 * i).score for i, v in enumerate(values)]
    assert max(scores) < 0.5
    jump = score_learn(detector, {"value": level * 1.01}, 60.0 * len(values)).score
    assert jump >= 0.5  # a real move of the flat gauge still alerts


@pytest.mark.parametrize("unit", [1.0, 100.0, 0.01])
def test_cad_sees_the_first_move_of_a_flat_gauge_in_any_unit(unit: float) -> None:
    """A gauge flat through the warm-up: its first move is beyond the range seen, however small."""
    model = ContextDetector(rest_period=10_000)
    for _ in range(200):
        score_learn(model, {"value": 5.0 * unit})
    assert model.explain_one({"value": 5.4 * unit})["beyond_range"] == 1.0
    assert model.score_one({"value": 5.4 * unit}).score >= 0.75
