"""The simple detectors of models/zscore.py: warm-up, floors, thresholds, pickling."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from forewarn.models.base import Detector
from forewarn.models.zscore import EWFailureRate, EWZScore, rate_score, threshold_score

pytestmark = pytest.mark.unit


def feed(det: EWZScore | EWFailureRate, values: list[float], name: str = "v") -> list[float]:
    scores = []
    for v in values:
        scores.append(det.score_one({name: v}).score)
        det.learn_one({name: v})
    return scores


def test_both_follow_the_detector_protocol() -> None:
    assert isinstance(EWZScore(), Detector)
    assert isinstance(EWFailureRate(), Detector)


def test_threshold_score_is_half_at_the_threshold_and_bounded() -> None:
    assert threshold_score(1.0) == 0.5
    assert threshold_score(0.0) == 0.0
    assert threshold_score(-3.0) == 0.0
    assert threshold_score(2.0) == pytest.approx(0.8)
    assert threshold_score(3.0) == pytest.approx(0.9)
    assert threshold_score(1e300) == 1.0
    assert threshold_score(float("nan")) == 0.0


def test_rate_score_is_linear_around_the_threshold() -> None:
    assert rate_score(0.5, 0.5) == 0.5
    assert rate_score(0.25, 0.5) == 0.25
    assert rate_score(0.9, 0.5) == pytest.approx(0.9)
    assert rate_score(0.2, 0.4) == pytest.approx(0.25)
    assert rate_score(1.0, 0.4) == 1.0
    assert rate_score(0.99, 1.0) == pytest.approx(0.495)


def test_zscore_scores_zero_during_warmup_even_for_wild_values() -> None:
    det = EWZScore(warmup=5)
    scores = feed(det, [10.0, 10.0, 1e6, 10.0, 10.0])
    assert scores == [0.0] * 5
    assert det.n == 5


def test_zscore_constant_series_gives_finite_scores_and_floor() -> None:
    det = EWZScore(warmup=3, min_relative_std=0.05)
    feed(det, [100.0] * 50)
    assert det.var == pytest.approx(0.0, abs=1e-12)
    assert det.std() == pytest.approx(5.0)  # the relative floor, 5% of 100
    result = det.score_one({"v": 100.0})
    assert result.score == 0.0 and math.isfinite(result.score)
    # 900 ms against 100 +/- 5: z = 160, score = r^2/(1+r^2) with r = 160/4
    assert det.score_one({"v": 900.0}).score == pytest.approx(1600 / 1601)


def test_zscore_constant_zero_series_uses_absolute_floor() -> None:
    det = EWZScore(warmup=2, min_std=1e-6)
    feed(det, [0.0] * 20)
    assert det.std() == 1e-6
    assert math.isfinite(det.score_one({"v": 1.0}).score)


def test_zscore_flags_a_spike_on_a_noisy_series_but_not_normal_noise() -> None:
    rng = random.Random(7)
    det = EWZScore(alpha=0.05, warmup=20, z_threshold=4.0, direction="up")
    normal = [100 + rng.gauss(0, 5) for _ in range(300)]
    scores = feed(det, normal)
    assert max(scores) < 0.5
    assert det.score_one({"v": 200.0}).score > 0.8
    assert det.score_one({"v": 0.0}).score == 0.0  # direction up: faster is not a problem


def test_zscore_direction_both_flags_drops() -> None:
    det = EWZScore(warmup=5, direction="both")
    feed(det, [50.0, 52.0, 48.0, 51.0, 49.0, 50.0])
    assert det.score_one({"v": 0.0}).score > 0.9
    down = EWZScore(warmup=5, direction="down")
    feed(down, [50.0, 52.0, 48.0, 51.0, 49.0, 50.0])
    assert down.score_one({"v": 0.0}).score > 0.9
    assert down.score_one({"v": 100.0}).score == 0.0


def test_zscore_confidence_grows_with_samples() -> None:
    det = EWZScore(warmup=10)
    confidences = []
    for _ in range(40):
        confidences.append(det.score_one({"v": 1.0}).confidence)
        det.learn_one({"v": 1.0})
    assert confidences[0] == 0.0
    assert confidences == sorted(confidences)
    assert confidences[10] == pytest.approx(0.5)
    assert 0.75 < confidences[-1] < 1.0


def test_zscore_clipped_learning_keeps_the_baseline_through_an_outage_then_adapts() -> None:
    det = EWZScore(alpha=0.05, warmup=10, z_threshold=4.0)
    feed(det, [100.0 + (i % 3) for i in range(100)])
    baseline = det.mean
    feed(det, [5000.0] * 5)
    assert det.mean < baseline * 1.5  # 5 wild values did not become the new normal
    feed(det, [5000.0] * 400)
    assert det.score_one({"v": 5000.0}).score < 0.5  # a lasting level shift is absorbed


def test_zscore_ignores_missing_and_non_finite_values() -> None:
    det = EWZScore(warmup=2)
    feed(det, [1.0, 2.0, 3.0])
    before = (det.n, det.mean, det.var)
    det.learn_one({"v": float("nan")})
    det.learn_one({})
    det.learn_one({"v": float("inf")})
    assert (det.n, det.mean, det.var) == before
    assert det.score_one({"v": float("nan")}).score == 0.0


def test_zscore_is_deterministic_and_pickles_exactly() -> None:
    values = [random.Random(3).random() * 100 for _ in range(200)]
    a, b = EWZScore(warmup=5), EWZScore(warmup=5)
    assert feed(a, values) == feed(b, values)
    blob = pickle.dumps(a)
    assert len(blob) < 1000
    c = pickle.loads(blob)
    assert feed(c, values[:50]) == feed(a, values[:50])


@pytest.mark.parametrize(
    "kwargs",
    [{"alpha": 0.0}, {"alpha": 1.0}, {"warmup": 0}, {"z_threshold": 0.0}, {"direction": "sideways"}],
)
def test_zscore_rejects_bad_hyperparameters(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        EWZScore(**kwargs)  # type: ignore[arg-type]


def test_failure_rate_crosses_on_the_second_consecutive_failure() -> None:
    det = EWFailureRate(alpha=0.3, rate_threshold=0.5)
    scores = feed(det, [0.0] * 10 + [1.0, 1.0], name="failure")
    assert max(scores[:10]) == 0.0
    assert scores[10] == pytest.approx(0.3)  # one failure: rate 0.3, below threshold
    assert scores[11] == pytest.approx(0.51)  # two: 0.7 * 0.3 + 0.3
    assert det.consecutive_failures == 2


def test_failure_rate_isolated_failures_stay_below_threshold() -> None:
    det = EWFailureRate(alpha=0.3, rate_threshold=0.5)
    scores = feed(det, [1.0, 0.0, 0.0, 0.0] * 20, name="failure")
    assert max(scores) < 0.5


def test_failure_rate_total_outage_reaches_critical_and_recovers() -> None:
    det = EWFailureRate(alpha=0.3, rate_threshold=0.5)
    scores = feed(det, [1.0] * 8, name="failure")
    assert scores[6] == pytest.approx(1 - 0.7**7)
    assert scores[-1] > 0.9
    facts = det.explain_one({"failure": 1.0})
    assert facts["consecutive_failures"] == 9.0
    recovered = feed(det, [0.0] * 5, name="failure")
    assert recovered[-1] < 0.2
    assert det.consecutive_failures == 0


def test_failure_rate_state_is_small_and_round_trips() -> None:
    det = EWFailureRate()
    feed(det, [1.0, 0.0, 1.0, 1.0], name="failure")
    clone = pickle.loads(pickle.dumps(det))
    assert (clone.n, clone.rate, clone.consecutive_failures) == (det.n, det.rate, det.consecutive_failures)
    assert len(pickle.dumps(det)) < 500
