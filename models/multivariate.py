"""Per-service detector across several signals, with "why": which signals drove the score.

Why per-signal likelihoods combined by noisy-OR (and not one joint model such as HalfSpaceTrees): a
service's signals (latency, error rate, pool in use, ...) live on unrelated scales and arrive at
different times, often one at a time; each signal's own likelihood is already calibrated to that
signal's history, so combining them is simple and the attribution is exact: a signal's share of the
score is its own evidence. River's HalfSpaceTrees costs ~1 MB per instance; this costs < 1 KB per signal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from forewarn.models.base import AnomalyScore, Snapshottable, as_finite
from forewarn.models.likelihood import LikelihoodDetector
from forewarn.models.river_compat import RiverDetector


class ServiceDetector(Snapshottable, RiverDetector):
    """Scores a mapping of named signals; signals may be missing from any given event.

    ``max_signals`` bounds the state: signals beyond it are ignored (and counted in ``dropped``), so a
    producer that invents a new metric name per request cannot grow memory without limit.
    """

    def __init__(
        self,
        max_signals: int = 16,
        detector: Callable[[], LikelihoodDetector] = LikelihoodDetector,
    ) -> None:
        self.max_signals = max_signals
        self.detector = detector
        self.signals: dict[str, LikelihoodDetector] = {}
        self.dropped = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_signals={self.max_signals})"

    def _values(self, x: Mapping[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, raw in x.items():
            value = as_finite(raw)
            if value is not None:
                out[str(name)] = value
        return out

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        scores: dict[str, float] = {}
        confidences: list[float] = []
        for name, value in self._values(x).items():
            model = self.signals.get(name)
            if model is None:
                continue
            s = model.score_one({name: value}, t)
            scores[name] = s.score
            confidences.append(s.confidence)
        if not scores:
            return AnomalyScore(score=0.0, confidence=0.0)
        miss = 1.0
        for s_i in scores.values():
            miss *= 1.0 - s_i
        score = 1.0 - miss
        total = sum(scores.values())
        drivers = {k: (v / total if total > 0 else 0.0) for k, v in scores.items()}
        return AnomalyScore(
            score=min(1.0, max(0.0, score)),
            confidence=sum(confidences) / len(confidences),
            drivers=drivers,
        )

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        for name, value in self._values(x).items():
            model = self.signals.get(name)
            if model is None:
                if len(self.signals) >= self.max_signals:
                    self.dropped += 1
                    continue
                model = self.signals[name] = self.detector()
                model.feature = name
            model.learn_one({name: value}, t)
