"""The default univariate anomaly detector: robust prediction residuals turned into a likelihood.

Why this design (measured on NAB with ``forewarn bench nab``):

* A raw surprise score (robust z of the residual) is not comparable across series: a noisy series
  is always "surprising". So the capped surprise is compared with that series' own long-run
  distribution of surprise (the anomaly-likelihood idea of Numenta's HTM detector), which makes one
  threshold serve latency, error rate and resource gauges alike. ``short_alpha`` < 1 averages the
  surprise over a few events first (HTM style); on NAB no averaging (1.0) scored best.
* An incident is reported once, not on every row of it: a score that does not beat the recent peak
  (decaying with ``suppress_halflife`` events) is reported as 0. This alert de-duplication is what
  an on-call human wants and is worth ~10 NAB points.
* Residuals are measured against an exponentially weighted level (``level_alpha``: ~100 events of
  memory by default) plus a time-of-day profile, with a mean-absolute-deviation scale, so a level
  shift is flagged when it happens and then becomes the new normal, and a daily cycle is not an
  anomaly.
* Everything is O(1) per event and a few hundred bytes of state per series (no windows of raw
  values), so a dataflow can hold one instance per series for thousands of series.
* Gaps (None/NaN), out-of-order timestamps and flat stretches are taken in stride: a missing value
  scores 0 with confidence 0 and is not learned; a zero-variance series gets a scale floor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from forewarn.models.base import AnomalyScore, Snapshottable, as_finite

_SQRT2 = math.sqrt(2.0)


class LikelihoodDetector(Snapshottable):
    """Online univariate detector: score_one returns P-value-like evidence mapped into [0, 1].

    ``feature`` names the input to read from ``x``; None takes the first value. Hyperparameters are
    constructor arguments stored under the same name (River style), so ``repr`` and cloning work.
    """

    def __init__(
        self,
        feature: str | None = None,
        level_alpha: float = 0.01,
        scale_alpha: float = 0.005,
        short_alpha: float = 1.0,
        history_alpha: float = 0.0003,
        warmup: int = 30,
        min_history_std: float = 0.0001,
        seasonal_bins: int = 24,
        seasonal_period_seconds: float = 86_400.0,
        seasonal_alpha: float = 0.05,
        output: str = "likelihood",
        suppress_halflife: float = 3000.0,
        raw_cap: float = 20.0,
        calibration: str = "gaussian",
        histogram_bins: int = 40,
        log_values: bool = False,
        drift_alpha: float = 0.1,
    ) -> None:
        self.drift_alpha = drift_alpha
        self.fast_mean = 0.0
        self.drift_scale = 0.0
        self.calibration = calibration
        self.histogram_bins = histogram_bins
        self.log_values = log_values
        self.hist_counts: list[float] = [0.0] * (histogram_bins if calibration == "histogram" else 0)
        self.hist_total = 0.0
        self.raw_cap = raw_cap
        self.output = output
        self.suppress_halflife = suppress_halflife
        self.peak = 0.0
        self.feature = feature
        self.level_alpha = level_alpha
        self.scale_alpha = scale_alpha
        self.short_alpha = short_alpha
        self.history_alpha = history_alpha
        self.warmup = warmup
        self.min_history_std = min_history_std
        self.seasonal_bins = seasonal_bins
        self.seasonal_period_seconds = seasonal_period_seconds
        self.seasonal_alpha = seasonal_alpha
        # Learned state: a handful of floats (plus the optional seasonal profile).
        self.n = 0
        self.level = 0.0
        self.scale = 0.0
        self.magnitude = 0.0
        self.short = 0.0
        self.hist_mean = 0.0
        self.hist_var = 0.0
        self.n_hist = 0
        self.last_t: float | None = None
        self.season: list[float] = [0.0] * seasonal_bins

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(feature={self.feature!r}, level_alpha={self.level_alpha}, "
            f"scale_alpha={self.scale_alpha}, short_alpha={self.short_alpha}, "
            f"history_alpha={self.history_alpha}, warmup={self.warmup}, "
            f"seasonal_bins={self.seasonal_bins})"
        )

    # -- public verbs -------------------------------------------------------------------------
    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        value = self._value(x)
        if value is None:
            return AnomalyScore(score=0.0, confidence=0.0)
        if self.n == 0:
            return AnomalyScore(score=0.0, confidence=0.0, expected=None)
        expected = self._expected(t)
        raw = self._raw(value, expected)
        short = self.short + self.short_alpha * (raw - self.short)
        if self.output == "raw":
            z = self._z(value, expected)
            score = z / (1.0 + z)
        elif self.output == "short":
            score = short
        else:
            score = self._likelihood_score(short) if self.n_hist >= self.warmup else 0.0
        if self.suppress_halflife > 0 and score <= self.peak * self._decay():
            score *= 0.0
        return AnomalyScore(
            score=score,
            confidence=self.confidence(),
            drivers={self.feature or "value": score},
            expected=expected,
        )

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        value = self._value(x)
        if value is None:
            return
        if self.n == 0:
            self.level = value
            self.fast_mean = value
            self.magnitude = abs(value)
            self.n = 1
            self.last_t = t
            return
        expected = self._expected(t)
        raw = self._raw(value, expected)
        if self.suppress_halflife > 0:
            out = self.score_one(x, t).score
            self.peak = max(self.peak * self._decay(), out)
        self.short += self.short_alpha * (raw - self.short)
        if self.n >= 3:
            # history of the averaged surprise, Welford-style EW mean/variance
            a = max(self.history_alpha, 1.0 / (self.n_hist + 1))
            delta = self.short - self.hist_mean
            self.hist_mean += a * delta
            self.hist_var = (1 - a) * (self.hist_var + a * delta * delta)
            if self.hist_counts:
                keep = 1.0 - self.history_alpha
                for i in range(len(self.hist_counts)):
                    self.hist_counts[i] *= keep
                self.hist_counts[self._hist_bin(self.short)] += 1.0
                self.hist_total = self.hist_total * keep + 1.0
            self.n_hist += 1
        residual = value - expected
        a_scale = max(self.scale_alpha, 1.0 / (self.n + 1))
        if self.drift_alpha > 0:
            self.fast_mean += self.drift_alpha * ((value - expected + self.level) - self.fast_mean)
            self.drift_scale += a_scale * (abs(self.fast_mean - self.level) - self.drift_scale)
        self.scale += a_scale * (abs(residual) - self.scale)
        self.magnitude += a_scale * (abs(value) - self.magnitude)
        self.level += self.level_alpha * (value - self.level - self._seasonal(t))
        if self.seasonal_bins and t is not None:
            k = self._bin(t)
            self.season[k] += self.seasonal_alpha * (value - self.level - self.season[k])
        if t is not None and (self.last_t is None or t > self.last_t):
            self.last_t = t
        self.n += 1

    def confidence(self) -> float:
        """Grows from 0 to 1 over warm-up; policies threshold it to ignore cold-start scores."""
        return min(1.0, self.n_hist / max(1.0, 4.0 * self.warmup))

    # -- internals ----------------------------------------------------------------------------
    def _value(self, x: Mapping[str, float]) -> float | None:
        value: float | None = None
        if self.feature is not None:
            value = as_finite(x.get(self.feature))
        else:
            for v in x.values():
                value = as_finite(v)
                break
        if value is not None and self.log_values:
            value = math.copysign(math.log1p(abs(value)), value)
        return value

    def _decay(self) -> float:
        return math.pow(0.5, 1.0 / self.suppress_halflife)

    def _bin(self, t: float) -> int:
        phase = (t % self.seasonal_period_seconds) / self.seasonal_period_seconds
        return min(self.seasonal_bins - 1, int(phase * self.seasonal_bins))

    def _seasonal(self, t: float | None) -> float:
        if not self.seasonal_bins or t is None:
            return 0.0
        return self.season[self._bin(t)]

    def _expected(self, t: float | None) -> float:
        return self.level + self._seasonal(t)

    def _z(self, value: float, expected: float) -> float:
        floor = 1e-9 + 1e-6 * self.magnitude
        return abs(value - expected) / max(self.scale * 1.2533, floor)

    def _drift(self, value: float, expected: float) -> float:
        """Deviation of the short-run mean from the long-run level, in its own usual units."""
        fm = self.fast_mean + self.drift_alpha * ((value - expected + self.level) - self.fast_mean)
        floor = 1e-9 + 1e-6 * self.magnitude
        return abs(fm - self.level) / max(self.drift_scale * 1.2533, floor)

    def _raw(self, value: float, expected: float) -> float:
        z = self._z(value, expected)
        if self.drift_alpha > 0 and self.n > 2:
            z = max(z, self._drift(value, expected))
        if self.raw_cap > 0:
            return min(z, self.raw_cap) / self.raw_cap
        return math.erf(z / _SQRT2)

    def _hist_bin(self, short: float) -> int:
        return min(self.histogram_bins - 1, max(0, int(short * self.histogram_bins)))

    def _likelihood_score(self, short: float) -> float:
        if self.hist_counts:
            k = self._hist_bin(short)
            frac = short * self.histogram_bins - k
            tail = sum(self.hist_counts[k + 1 :]) + (1.0 - frac) * self.hist_counts[k]
            floor = 1.0 / max(self.hist_total, 1.0)
            p = max(tail / max(self.hist_total, 1e-12), floor * 0.5)
            return min(1.0, (-math.log10(p) + short) / 8.0)
        std = max(math.sqrt(self.hist_var), self.min_history_std)
        zz = max(0.0, (short - self.hist_mean) / std)
        # monotone in the Gaussian tail of the averaged surprise, and never saturates to a tie at 1
        return zz / (1.0 + zz)
