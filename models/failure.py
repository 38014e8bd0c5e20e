"""P(endpoint fails within the next h seconds), learned online from delayed labels, with calibration.

Why this shape: whether "the endpoint failed within h minutes of time t" is only known at t + h, so
each prediction is parked with its features until its horizon has passed, then it becomes one
training example (online logistic regression, SGD with L2) and one calibration sample. Calibration is
reported as the Brier score next to the climatology Brier score (always predicting the base rate:
a model must beat it to be worth anything) and a reliability table. State is bounded: at most
``max_pending`` parked predictions and ``max_features`` weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from forewarn.models.base import Snapshottable, as_finite


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """Predictions in [lower, upper): how many, their mean, and how often failure really followed."""

    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class FailureProbability(Snapshottable):
    """Online logistic model of P(failure within ``horizon_seconds``) with delayed labels."""

    def __init__(
        self,
        horizon_seconds: float = 600.0,
        learning_rate: float = 0.01,
        l2: float = 1e-4,
        max_pending: int = 256,
        max_features: int = 16,
        reliability_bins: int = 10,
        prior_rate: float = 0.05,
        calibration_strength: float = 20.0,
    ) -> None:
        self.calibration_strength = calibration_strength
        # histogram-binning recalibration of the raw logistic output, learned from resolved labels
        self.cal_count = [0] * reliability_bins
        self.cal_obs = [0] * reliability_bins
        self.horizon_seconds = horizon_seconds
        self.learning_rate = learning_rate
        self.l2 = l2
        self.max_pending = max_pending
        self.max_features = max_features
        self.reliability_bins = reliability_bins
        self.prior_rate = prior_rate
        self.bias = math.log(prior_rate / (1.0 - prior_rate))
        self.weights: dict[str, float] = {}
        # parked predictions: [t, features, predicted p, failed-within-horizon so far]
        self.pending: list[tuple[float, dict[str, float], float, bool]] = []
        self.n_resolved = 0
        self.brier_sum = 0.0
        self.positives = 0
        self.bin_count = [0] * reliability_bins
        self.bin_pred = [0.0] * reliability_bins
        self.bin_obs = [0] * reliability_bins
        self.last_t: float | None = None

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(horizon_seconds={self.horizon_seconds}, learning_rate={self.learning_rate})"

    def _clean(self, features: Mapping[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, raw in features.items():
            value = as_finite(raw)
            if value is None:
                continue
            if name in self.weights or len(self.weights) + len(out) < self.max_features:
                out[str(name)] = max(-1e3, min(1e3, value))  # bounded inputs keep SGD stable
        return out

    def _raw(self, x: Mapping[str, float]) -> float:
        return _sigmoid(self.bias + sum(self.weights.get(k, 0.0) * v for k, v in x.items()))

    def _bin(self, p: float) -> int:
        return min(self.reliability_bins - 1, int(p * self.reliability_bins))

    def predict_proba(self, features: Mapping[str, float]) -> float:
        """P(the endpoint fails within the horizon), given features observed now.

        The logistic output is recalibrated by what actually followed earlier predictions in the same
        probability bin (shrunk towards the raw output while a bin has few samples), so a misspecified
        linear model still yields honest probabilities.
        """
        raw = self._raw(self._clean(features))
        k = self._bin(raw)
        m = self.calibration_strength
        return (self.cal_obs[k] + m * raw) / (self.cal_count[k] + m)

    def confidence(self) -> float:
        """Grows with the number of resolved (labelled) predictions."""
        return min(1.0, self.n_resolved / 200.0)

    def learn_one(self, features: Mapping[str, float], ok: bool, t: float) -> float:
        """Record an outcome at time t and the features seen with it; returns the new prediction.

        Every parked prediction whose window contains t learns that a failure happened; those whose
        horizon has passed are resolved into a training example and a calibration sample.
        """
        when = as_finite(t)
        if when is None:
            return self.predict_proba(features)
        if self.last_t is not None and when < self.last_t:
            when = self.last_t  # late outcome: treated as now
        self.last_t = when
        if not ok:
            self.pending = [
                (pt, px, pp, failed or (pt < when <= pt + self.horizon_seconds))
                for pt, px, pp, failed in self.pending
            ]
        still: list[tuple[float, dict[str, float], float, bool]] = []
        for entry in self.pending:
            if entry[0] + self.horizon_seconds <= when:
                self._resolve(entry[1], entry[2], entry[3])
            else:
                still.append(entry)
        x = self._clean(features)
        p = self.predict_proba(x)
        still.append((when, x, p, False))
        if len(still) > self.max_pending:
            still = still[-self.max_pending :]  # oldest unresolved dropped: bounded memory
        self.pending = still
        return p

    def _resolve(self, x: dict[str, float], predicted: float, failed: bool) -> None:
        y = 1.0 if failed else 0.0
        p = self._raw(x)
        kc = self._bin(p)
        self.cal_count[kc] += 1
        self.cal_obs[kc] += int(failed)
        grad = p - y
        rate = self.learning_rate
        self.bias -= rate * grad
        for k, v in x.items():
            w = self.weights.get(k, 0.0)
            self.weights[k] = w - rate * (grad * v + self.l2 * w)
        self.n_resolved += 1
        self.positives += int(failed)
        self.brier_sum += (predicted - y) ** 2
        kb = self._bin(predicted)
        self.bin_count[kb] += 1
        self.bin_pred[kb] += predicted
        self.bin_obs[kb] += int(failed)

    # -- calibration report ---------------------------------------------------------------------
    def brier(self) -> float | None:
        """Mean squared error of the resolved predictions (lower is better)."""
        return self.brier_sum / self.n_resolved if self.n_resolved else None

    def climatology_brier(self) -> float | None:
        """Brier score of always predicting the observed base rate: the bar to beat."""
        if not self.n_resolved:
            return None
        rate = self.positives / self.n_resolved
        return rate * (1.0 - rate)

    def reliability(self) -> list[ReliabilityBin]:
        """Predicted vs observed failure rate per probability bin (non-empty bins only)."""
        width = 1.0 / self.reliability_bins
        return [
            ReliabilityBin(
                lower=k * width,
                upper=(k + 1) * width,
                count=self.bin_count[k],
                mean_predicted=self.bin_pred[k] / self.bin_count[k],
                observed_rate=self.bin_obs[k] / self.bin_count[k],
            )
            for k in range(self.reliability_bins)
            if self.bin_count[k]
        ]
