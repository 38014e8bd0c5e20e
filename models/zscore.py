"""The honest simple detectors the dataflow starts with: an EW z-score and an EW failure rate.

Why these two: a latency spike is "far from this series' recent normal", which an exponentially
weighted mean/variance measures in O(1) memory; a service outage is "most recent probes failed",
which an exponentially weighted failure rate plus a run length measures just as cheaply. Both are
tiny (a handful of floats, pickled in ~200 bytes), deterministic, never read a clock and never
produce NaN, so they are a baseline every better model (``models/`` of the models issue) is
benchmarked against.

Score convention shared with the pipeline: ``score`` is in [0, 1] and crosses 0.5 exactly where the
detector's own threshold is crossed (|z| = ``z_threshold``, failure rate = ``rate_threshold``), so
the dataflow can alert on ``score >= 0.5`` whatever the detector.

>>> det = EWZScore(alpha=0.1, warmup=5, z_threshold=4.0, direction="up")
>>> for v in [100.0, 102.0, 98.0, 101.0, 99.0, 100.0]:
...     det.learn_one({"latency_ms": v})
>>> det.score_one({"latency_ms": 101.0}).score < 0.5
True
>>> det.score_one({"latency_ms": 400.0}).score > 0.9
True
>>> fr = EWFailureRate(alpha=0.3, rate_threshold=0.5)
>>> fr.learn_one({"failure": 1.0})
>>> round(fr.score_one({"failure": 1.0}).score, 3)  # rate 0.51 just crossed 0.5
0.51
>>> round(rate_score(0.51, 0.3), 3)  # the same rate against a 0.3 threshold is well above it
0.65
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from forewarn.models.base import AnomalyScore, Snapshottable
from forewarn.models.river_compat import RiverDetector

Direction = Literal["up", "down", "both"]

__all__ = ["EWFailureRate", "EWZScore", "rate_score", "threshold_score"]


def threshold_score(ratio: float) -> float:
    """Map ``ratio = measure / threshold`` (>= 0) to [0, 1) with 0.5 exactly at the threshold.

    ``r^2 / (1 + r^2)`` is smooth, monotone, and saturates: 2x the threshold scores 0.8, 3x 0.9.
    """
    if not ratio > 0.0:
        return 0.0
    if ratio > 1e6:
        return 1.0
    squared = ratio * ratio
    return squared / (1.0 + squared)


def rate_score(rate: float, threshold: float) -> float:
    """Map a rate in [0, 1] to [0, 1] piecewise linearly, with 0.5 exactly at ``threshold``.

    Linear above the threshold so a total outage reaches the top of the scale (rate 0.9 with a 0.5
    threshold scores 0.9); with the default 0.5 threshold the score *is* the rate.
    """
    rate = min(max(rate, 0.0), 1.0)
    if rate < threshold:
        return 0.5 * rate / threshold
    if threshold >= 1.0:
        return 0.5
    return 0.5 + 0.5 * (rate - threshold) / (1.0 - threshold)


def _first_value(x: Mapping[str, float]) -> tuple[str, float] | None:
    """The single feature these univariate detectors read; None when absent or not finite."""
    for name, raw in x.items():
        if type(raw) is float:  # the hot path: the dataflow always passes floats
            if math.isfinite(raw):
                return name, raw
            continue
        if raw is None or isinstance(raw, bool):
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            return name, value
    return None


class EWZScore(Snapshottable, RiverDetector):
    """Exponentially weighted z-score of one univariate series (latency, a gauge, ...).

    - Warm-up: the first ``warmup`` samples only learn (score 0); until then the weight is
      ``max(alpha, 1/n)`` so the mean starts as a plain average instead of being biased to the
      first sample.
    - Variance floor: the standard deviation used in z is at least
      ``max(min_std, min_relative_std * |mean|)``, so a constant series gives a finite z (no NaN,
      no division by zero) and a 1 ms wobble on a perfectly flat 10 ms series is not "infinite sigma".
    - Robust learning: an observation beyond the threshold is learned clipped to
      ``mean +/- z_threshold * std``, so a sustained outage does not instantly become the new
      normal; a real level shift is still absorbed, just over ~1/alpha samples.
    - ``direction="up"`` only flags values above normal (latency: faster is not a problem).
    - ``confidence = n / (n + warmup)`` grows with the number of samples seen.
    """

    name = "ew_zscore"

    def __init__(
        self,
        alpha: float = 0.05,
        warmup: int = 10,
        z_threshold: float = 4.0,
        direction: Direction = "both",
        min_std: float = 1e-6,
        min_relative_std: float = 0.05,
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if warmup < 1:
            raise ValueError(f"warmup must be >= 1, got {warmup}")
        if not z_threshold > 0.0:
            raise ValueError(f"z_threshold must be > 0, got {z_threshold}")
        if direction not in ("up", "down", "both"):
            raise ValueError(f"direction must be 'up', 'down' or 'both', got {direction!r}")
        self.alpha = alpha
        self.warmup = warmup
        self.z_threshold = z_threshold
        self.direction: Direction = direction
        self.min_std = min_std
        self.min_relative_std = min_relative_std
        self.n = 0
        self.mean = 0.0
        self.var = 0.0

    def std(self) -> float:
        """The standard deviation used for z, with the floor applied."""
        floor = max(self.min_std, self.min_relative_std * abs(self.mean))
        return max(math.sqrt(max(self.var, 0.0)), floor)

    def z(self, value: float) -> float:
        return (value - self.mean) / self.std()

    def _signed(self, z: float) -> float:
        if self.direction == "up":
            return max(z, 0.0)
        if self.direction == "down":
            return max(-z, 0.0)
        return abs(z)

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        found = _first_value(x)
        confidence = self.n / (self.n + self.warmup)
        if found is None or self.n < self.warmup:
            return AnomalyScore(score=0.0, confidence=confidence, expected=self.mean if self.n else None)
        name, value = found
        z = self.z(value)
        score = threshold_score(self._signed(z) / self.z_threshold)
        return AnomalyScore(score=score, confidence=confidence, drivers={name: 1.0}, expected=self.mean)

    def explain_one(self, x: Mapping[str, float]) -> dict[str, float]:
        """The numbers a human needs to judge a score, computed against the state before learning."""
        found = _first_value(x)
        facts = {
            "ew_mean": self.mean,
            "ew_std": self.std(),
            "samples": float(self.n),
            "z_threshold": self.z_threshold,
        }
        if found is not None:
            facts["z"] = self.z(found[1])
        return facts

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        found = _first_value(x)
        if found is None:
            return
        value = found[1]
        if self.n >= self.warmup:
            bound = self.z_threshold * self.std()
            value = min(max(value, self.mean - bound), self.mean + bound)
        self.n += 1
        if self.n == 1:
            self.mean = value
            self.var = 0.0
            return
        weight = max(self.alpha, 1.0 / self.n)
        diff = value - self.mean
        increment = weight * diff
        self.mean += increment
        self.var = (1.0 - weight) * (self.var + diff * increment)

    def __repr__(self) -> str:
        return (
            f"EWZScore(alpha={self.alpha}, warmup={self.warmup}, z_threshold={self.z_threshold}, "
            f"direction={self.direction!r}, n={self.n}, mean={self.mean:.6g}, std={self.std():.6g})"
        )


class EWFailureRate(Snapshottable, RiverDetector):
    """Exponentially weighted failure rate of a 0/1 series (probe failed, log line is an error).

    The rate starts at 0 (a service is presumed healthy) and moves by ``alpha`` per observation:
    with alpha 0.3 and a 0.5 threshold a total outage crosses on the 2nd consecutive failure, while a
    single isolated failure (rate 0.3) does not. ``score`` is :func:`rate_score`, which crosses 0.5
    exactly when the rate crosses ``rate_threshold`` (with the default 0.5 the score is the rate).
    The run of consecutive failures is kept too: it is what an operator reads first ("5 probes in a
    row failed"). ``confidence = 1 - 0.5 ** n`` grows with samples (a single probe says little).
    Any value > 0.5 counts as a failure.
    """

    name = "ew_failure_rate"

    def __init__(self, alpha: float = 0.3, rate_threshold: float = 0.5) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if not 0.0 < rate_threshold <= 1.0:
            raise ValueError(f"rate_threshold must be in (0, 1], got {rate_threshold}")
        self.alpha = alpha
        self.rate_threshold = rate_threshold
        self.n = 0
        self.rate = 0.0
        self.consecutive_failures = 0

    def _next(self, failed: bool) -> tuple[float, int]:
        rate = (1.0 - self.alpha) * self.rate + (self.alpha if failed else 0.0)
        run = self.consecutive_failures + 1 if failed else 0
        return rate, run

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        """Score the rate *including* this observation: a failure is evidence, not a prediction."""
        found = _first_value(x)
        if found is None:
            return AnomalyScore(score=0.0, confidence=1.0 - 0.5**self.n, expected=self.rate)
        name, value = found
        rate, _ = self._next(value > 0.5)
        score = rate_score(rate, self.rate_threshold)
        return AnomalyScore(
            score=score, confidence=1.0 - 0.5 ** min(self.n + 1, 60), drivers={name: 1.0}, expected=self.rate
        )

    def explain_one(self, x: Mapping[str, float]) -> dict[str, float]:
        found = _first_value(x)
        facts = {"previous_failure_rate": self.rate, "rate_threshold": self.rate_threshold}
        if found is not None:
            rate, run = self._next(found[1] > 0.5)
            facts["failure_rate"] = rate
            facts["consecutive_failures"] = float(run)
        facts["samples"] = float(self.n + (found is not None))
        return facts

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        found = _first_value(x)
        if found is None:
            return
        self.rate, self.consecutive_failures = self._next(found[1] > 0.5)
        self.n += 1

    def __repr__(self) -> str:
        return (
            f"EWFailureRate(alpha={self.alpha}, rate_threshold={self.rate_threshold}, n={self.n}, "
            f"rate={self.rate:.4f}, consecutive_failures={self.consecutive_failures})"
        )
