"""The dataflow's default detector: the likelihood detector plus the record rule (models/record.py).

Why these tests: the record rule is what the default adds, so each of its promises is checked on a
seeded stream: a record alerts once, only after warm-up, only on the configured side; the score does
not depend on the series' unit or offset; and the detector runs inside a River pipeline.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Any

import pytest
from river import compose, preprocessing

from forewarn.models.likelihood import LikelihoodDetector
from forewarn.models.record import RecordLikelihoodDetector

pytestmark = pytest.mark.unit


def _noise(n: int, seed: int = 3) -> list[float]:
    rng = random.Random(seed)
    return [50.0 + rng.gauss(0.0, 2.0) for _ in range(n)]


def _scores(detector: RecordLikelihoodDetector, values: list[float]) -> list[float]:
    out = []
    for i, v in enumerate(values):
        x = {"value": v}
        out.append(detector.score_one(x, 60.0 * i).score)
        detector.learn_one(x, 60.0 * i)
    return out


def test_a_new_record_alerts_once_and_a_value_inside_the_extremes_does_not() -> None:
    values = _noise(600)
    low, high = min(values), max(values)
    span = high - low
    values += [high + 0.2 * span, high + 0.21 * span, (low + high) / 2.0]
    scores = _scores(RecordLikelihoodDetector(), values)
    assert scores[600] == 1.0  # 20 % of the span past the record
    assert scores[601] < 1.0  # past the new record by 1 % only: the same climb, not a new one
    assert scores[602] < 0.5


def test_no_record_during_warm_up_and_none_with_the_rule_off() -> None:
    values = [*_noise(50), 500.0]
    assert _scores(RecordLikelihoodDetector(), values)[-1] < 1.0  # 50 values < record_warmup
    late = [*_noise(600), 80.0]
    assert _scores(RecordLikelihoodDetector(), late)[-1] == 1.0
    plain = LikelihoodDetector()
    expected = []
    for i, v in enumerate(late):
        expected.append(plain.score_one({"value": v}, 60.0 * i).score)
        plain.learn_one({"value": v}, 60.0 * i)
    assert _scores(RecordLikelihoodDetector(record_tolerance=None), late) == expected


def test_direction_up_ignores_a_new_low() -> None:
    values = [*_noise(600), 0.0]
    assert _scores(RecordLikelihoodDetector(direction="up"), values)[-1] < 0.5
    assert _scores(RecordLikelihoodDetector(direction="both"), values)[-1] == 1.0


@pytest.mark.parametrize(("scale", "offset"), [(1000.0, 0.0), (0.001, 0.0), (1.0, 1e6), (37.0, -250.0)])
def test_scores_do_not_depend_on_the_unit_or_the_offset(scale: float, offset: float) -> None:
    """Scale-free: the same series in another unit or shifted gives the same alerts (and ~scores)."""
    values = [*_noise(800), 75.0, *_noise(200, seed=4), 40.0, 62.0]
    base = _scores(RecordLikelihoodDetector(), values)
    moved = _scores(RecordLikelihoodDetector(), [scale * v + offset for v in values])
    assert [s >= 0.5 for s in base] == [s >= 0.5 for s in moved]
    assert max(abs(a - b) for a, b in zip(base, moved, strict=True)) < 1e-3
    assert max(base) == 1.0  # the stream does alert


def test_runs_in_a_river_pipeline() -> None:
    """River's composition: a scaler feeding the detector; the record alerts through it."""
    detector = RecordLikelihoodDetector(feature="latency_ms")
    pipeline = preprocessing.StandardScaler() | detector
    assert isinstance(pipeline, compose.Pipeline)
    values = [*_noise(600), 120.0]
    scores = []
    for v in values:
        x = {"latency_ms": v, "cpu": 10.0}
        scores.append(pipeline.score_one(x))
        pipeline.learn_one(x)
    assert scores[-1] == 1.0
    assert max(scores[200:-1]) < 1.0
    assert detector.n == len(values)


def test_runs_in_river_evaluate() -> None:
    """``river.evaluate.progressive_val_score`` drives it score-then-learn, as River's own detectors."""
    from river import evaluate, metrics

    rng = random.Random(5)
    data: list[tuple[dict[Hashable, Any], bool]] = []  # River's feature-dict type
    for i in range(2000):
        spike = i > 300 and i % 250 == 0
        data.append(({"value": 50.0 + rng.gauss(0.0, 2.0) + (12.0 if spike else 0.0)}, spike))
    detector = RecordLikelihoodDetector()
    auc = evaluate.progressive_val_score(data, detector, metrics.ROCAUC())  # type: ignore[no-untyped-call]
    assert auc.get() > 0.9  # 6-sigma spikes ranked above the noise
    assert detector.n == len(data)
