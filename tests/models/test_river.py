"""forewarn detectors inside River's own tooling: pipelines and anomaly filters.

Why: the detectors implement ``river.base.AnomalyDetector`` (models/river_compat.py) so that River
users can compose them; these tests run them the way River would, through River's classes only.
"""

from __future__ import annotations

import random

import pytest
from river import anomaly, compose, preprocessing
from river.base import AnomalyDetector

from forewarn.models.likelihood import LikelihoodDetector

pytestmark = pytest.mark.unit

SPIKE_AT = 700


def _stream(n: int = 1000, seed: int = 11) -> list[dict[str, float]]:
    """Two features (the detector reads one by name), Gaussian noise, one spike in the read one."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        latency = 100.0 + rng.gauss(0.0, 3.0) + (60.0 if i == SPIKE_AT else 0.0)
        rows.append({"cpu": 40.0 + rng.gauss(0.0, 5.0), "latency_ms": latency})
    return rows


def test_a_detector_in_a_river_pipeline_scores_the_spike_highest() -> None:
    detector = LikelihoodDetector(feature="latency_ms")
    pipeline = preprocessing.StandardScaler() | detector
    assert isinstance(pipeline, compose.Pipeline)
    assert isinstance(pipeline, AnomalyDetector)  # River sees the pipeline as an anomaly detector
    scores = []
    for x in _stream():
        score = pipeline.score_one(x)
        pipeline.learn_one(x)
        assert type(score) is not bool and isinstance(score, float)
        scores.append(score)
    assert max(range(len(scores)), key=scores.__getitem__) == SPIKE_AT
    assert scores[SPIKE_AT] >= 0.5  # an alert in the detector's own scale, after standardisation
    assert detector.n == len(scores)  # the pipeline taught the detector every event


def test_river_anomaly_filters_threshold_our_scores() -> None:
    """River's filters compare the score with a number: a forewarn score is one."""
    detector = LikelihoodDetector(feature="latency_ms")
    flagged = []
    threshold = anomaly.ThresholdFilter(detector, threshold=0.5)
    for i, x in enumerate(_stream()):
        if threshold.classify(threshold.score_one(x)):  # type: ignore[no-untyped-call]  # River's, unannotated
            flagged.append(i)
        threshold.learn_one(x)
    assert flagged == [SPIKE_AT]


def test_clone_gives_a_fresh_detector_with_the_same_parameters() -> None:
    detector = LikelihoodDetector(feature="latency_ms", direction="up")
    for x in _stream(200):
        detector.learn_one(x)
    fresh = detector.clone()
    assert isinstance(fresh, LikelihoodDetector)
    assert (fresh.feature, fresh.direction, fresh.n) == ("latency_ms", "up", 0)
