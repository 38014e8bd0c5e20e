"""Put a detector's own alert threshold at 0.5, the score where the dataflow alerts.

Why: the dataflow has one alert rule for every detector (enter an episode at 0.5, leave below 0.4),
but detectors alert at their own score: ``ContextDetector``'s novelty is 0.5-0.7 on ordinary noise
and its reference threshold is 0.75. A monotone map that sends the detector's threshold to 0.5 keeps
the ranking (so NAB scores are unchanged) and lets the dataflow treat every detector alike.
"""

from __future__ import annotations

from collections.abc import Mapping

from forewarn.models.base import AnomalyScore, Detector, Snapshottable
from forewarn.models.river_compat import RiverDetector

ALERT_SCORE = 0.5


def rescale_to_alert(score: float, threshold: float) -> float:
    """Piecewise-linear and monotone: 0 -> 0, ``threshold`` -> 0.5, 1 -> 1 (clipped to [0, 1]).

    >>> [rescale_to_alert(score, threshold=0.75) for score in (0.0, 0.75, 1.0, 1.7)]
    [0.0, 0.5, 1.0, 1.0]
    """
    score = min(1.0, max(0.0, score))
    if score <= threshold:
        return ALERT_SCORE * score / threshold
    return ALERT_SCORE + (1.0 - ALERT_SCORE) * (score - threshold) / (1.0 - threshold)


class AlertScaled(Snapshottable, RiverDetector):
    """Wraps a detector; scores are rescaled so its ``threshold`` reads 0.5. Learning is unchanged."""

    def __init__(self, detector: Detector, threshold: float) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.detector = detector
        self.threshold = threshold

    @property
    def name(self) -> str:
        """The wrapped detector's name: detections name the model that scored, not the wrapper."""
        return type(self.detector).__name__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detector!r}, threshold={self.threshold})"

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        raw = self.detector.score_one(x, t)
        score = rescale_to_alert(raw.score, self.threshold)
        ratio = score / raw.score if raw.score > 0 else 0.0  # drivers are shares of the score
        drivers = {k: v * ratio for k, v in raw.drivers.items()}
        return AnomalyScore(score=score, confidence=raw.confidence, drivers=drivers, expected=raw.expected)

    def explain_one(self, x: Mapping[str, float]) -> dict[str, float]:
        """The wrapped detector's explanation, when it offers one (the dataflow asks before learning)."""
        explain = getattr(self.detector, "explain_one", None)
        return dict(explain(x)) if callable(explain) else {}

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        self.detector.learn_one(x, t)
