"""Resource exhaustion forecaster: discounted least-squares trend plus a time-of-day profile.

Why this design:

* Exhaustion is about the *trend* of a gauge (memory, disk, pool in use, queue depth), and operators
  trust a straight line they can check. Prometheus' ``predict_linear`` fits one over a fixed window; we
  fit the same line but with exponentially decaying weights in *time* (irregular sampling is fine) and
  keep the regression's own uncertainty, so every forecast has a prediction interval, the time to
  exhaustion has an interval, and P(breach within h) is an honest probability instead of a yes/no.
* A daily cycle (traffic-driven load) would drag a short trend up every morning and cause false alarms;
  the series is deseasonalised with an hourly profile learned online, and the profile is added back
  when forecasting, so the peak of tomorrow's cycle counts but its slope does not.
* State is ~a dozen floats plus the profile bins: far below the 20 KB per-series budget.
"""

from __future__ import annotations

import array
import math
from typing import Any

from forewarn.models.base import Forecast, Snapshottable, as_finite, normal_quantile
from forewarn.models.change import PageHinkley
from forewarn.models.discounted_line import DiscountedLine

_SQRT2 = math.sqrt(2.0)
RATE_Z = 2.0  # a refitted line's slope must differ from the main line's by this many standard errors
IMMINENT_POINTS = 8  # an imminent-crossing warning needs a refitted line of this many (effective) points
IMMINENT_Z = 4.0  # ... and a slope this many standard errors towards the threshold


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / _SQRT2)


def _z_for(level: float) -> float:
    """Two-sided normal quantile for an interval level."""
    return normal_quantile(0.5 + level / 2.0)


def _new_rate(fast_slope: float, fast_var_slope: float, slope: float, var_slope: float) -> bool:
    """A refitted line's rate is really another one: ``RATE_Z`` standard errors from the main line's."""
    return (fast_slope - slope) ** 2 > RATE_Z**2 * (fast_var_slope + var_slope)


class TrendForecaster(Snapshottable):
    """Online trend + seasonality forecaster with intervals, breach odds and time to exhaustion.

    ``halflife_seconds`` is how fast old points lose weight (the trend's memory); ``direction`` is
    ``"up"`` for gauges that exhaust by rising (memory, disk used) and ``"down"`` for ones that exhaust
    by falling (free bytes). ``max_tte_seconds`` caps the reported time to exhaustion (beyond it the
    trend says nothing useful).

    Two memories for two questions. The forecast, its interval and P(breach within h), which decide
    warnings, come from the main line (``halflife_seconds``): a batch job's 30-minute climb must not
    page anyone. The time to exhaustion is the number people read when a warning is up, and answers
    "at the rate it is going now": a second line with ``fast_halflife_seconds`` runs beside the main
    one, and the time to exhaustion (point and interval) comes from whichever line predicted the recent
    points better (exponentially weighted squared one-step errors over the fast half-life). Why: when a
    flat gauge starts to leak, the main line still averages the flat past in, so its slope is too low
    and the time it shows runs long exactly when it matters (``forewarn bench exhaustion`` measures the
    estimate against the truth). ``fast_halflife_seconds=None`` keeps the single line.

    A change test makes the fast line fast enough for sudden leaks: a Page-Hinkley test on the one-step
    residuals (``change_threshold`` residual standard deviations of evidence, ``None`` = off) notices
    that the gauge left its regime and where it began, and the fast line is refitted from that point
    on (the last ``change_memory`` points are kept for it). Without it, a pool that fills in 90 s after
    a quiet start was shown 10 s in as 7-10 minutes from exhaustion; with it, 1-2 minutes (simulated,
    ``tests/models/test_trend_rate.py``). Before the test has seen enough, the estimate stays long.

    One exception to "warnings come from the main line": a refitted line whose rate is clearly new and
    that crosses the threshold within ``imminent_seconds`` (300) raises P(breach) (``_imminent``), so a
    sudden race to the limit after hours of calm is warned of; the bench's false-warning rate stays 0.
    """

    def __init__(
        self,
        halflife_seconds: float = 1200.0,
        interval_level: float = 0.9,
        seasonal_bins: int = 24,
        seasonal_period_seconds: float = 86_400.0,
        seasonal_alpha: float = 0.05,
        warmup: int = 10,
        direction: str = "up",
        max_tte_seconds: float = 30 * 86_400.0,
        fast_halflife_seconds: float | None = 300.0,
        change_threshold: float | None = 5.0,
        change_memory: int = 64,
        imminent_seconds: float | None = 300.0,
        max_extrapolation: float | None = 4.0,
    ) -> None:
        if direction not in {"up", "down"}:
            raise ValueError(f"direction must be 'up' or 'down', not {direction!r}")
        if fast_halflife_seconds is not None and not fast_halflife_seconds > 0:
            raise ValueError(f"fast_halflife_seconds must be > 0 or None, got {fast_halflife_seconds}")
        self.halflife_seconds = halflife_seconds
        self.interval_level = interval_level
        self.seasonal_bins = seasonal_bins
        self.seasonal_period_seconds = seasonal_period_seconds
        self.seasonal_alpha = seasonal_alpha
        self.warmup = warmup
        self.direction = direction
        self.max_tte_seconds = max_tte_seconds
        self.fast_halflife_seconds = fast_halflife_seconds
        self._z = _z_for(interval_level)
        self.lines = [DiscountedLine(halflife_seconds)]
        if fast_halflife_seconds is not None:
            self.lines.append(DiscountedLine(fast_halflife_seconds))
        self.errors = [0.0] * len(self.lines)  # EW squared one-step error of each line
        self.rate_line = 0  # index of the line the time to exhaustion uses
        self.change_threshold = change_threshold
        self.imminent_seconds = imminent_seconds
        self.max_extrapolation = max_extrapolation
        self.first_t: float | None = None  # time of the first point learned (the data's span)
        self.change_memory = max(2, change_memory)
        self.change = (  # the change test needs the fast line it refits
            PageHinkley(threshold=change_threshold)
            if change_threshold is not None and fast_halflife_seconds is not None
            else None
        )
        self.changes = 0  # regime changes seen (the fast line was refitted from each)
        self.refit_index: int | None = None  # index of the point that triggered the last refit
        # the last ``change_memory`` deseasonalised points, to refit the fast line from a change point
        self.recent_t: array.array[float] = array.array("d")
        self.recent_y: array.array[float] = array.array("d")
        self.n = 0
        self.last_t: float | None = None
        self.last_y: float | None = None
        self.season: list[float] = [0.0] * seasonal_bins
        self.season_seen: list[int] = [0] * seasonal_bins

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(halflife_seconds={self.halflife_seconds}, "
            f"interval_level={self.interval_level}, seasonal_bins={self.seasonal_bins}, "
            f"direction={self.direction!r}, fast_halflife_seconds={self.fast_halflife_seconds})"
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Snapshots from before the two lines (seven sums on the object) load as one line."""
        if "lines" not in state:
            line = DiscountedLine(float(state["halflife_seconds"]))
            for name in ("s0", "s0sq", "s1", "s2", "sy", "sty", "syy"):
                setattr(line, name, state.pop(name))
            state.update(lines=[line], errors=[0.0], rate_line=0, fast_halflife_seconds=None)
        if "change" not in state:
            state.update(
                change_threshold=None,
                change_memory=64,
                imminent_seconds=None,
                max_extrapolation=None,
                first_t=None,
                change=None,
                changes=0,
                refit_index=None,
                recent_t=array.array("d"),
                recent_y=array.array("d"),
            )
        self.__dict__.update(state)

    # -- learning -------------------------------------------------------------------------------
    def learn_one(self, y: float, t: float) -> None:
        value = as_finite(y)
        when = as_finite(t)
        if value is None or when is None or abs(value) > 1e150:
            return  # a gap or garbage: nothing to learn (and nothing to poison the sums with)
        if self.last_t is not None and when < self.last_t:
            when = self.last_t  # late event: count it as "now" instead of rewinding time
        if self.first_t is None and self.n == 0:
            self.first_t = when
        deseasonalised = value - self._seasonal(when)
        dt = when - self.last_t if self.last_t is not None else 0.0
        if self.n >= self.warmup and len(self.lines) > 1:
            self._watch_for_change(deseasonalised, dt)  # first: a refitted line is scored on this point
            self._score_lines(deseasonalised, dt)
        for line in self.lines:
            if dt > 0:
                line.shift(dt)
            line.add(deseasonalised)
        self._remember(when, deseasonalised)
        self.last_t = when
        self.last_y = value
        self.n += 1
        if self.seasonal_bins and self.n > self.warmup:
            level, _ = self._line()
            k = self._bin(when)
            a = max(self.seasonal_alpha, 1.0 / (self.season_seen[k] + 1))
            self.season[k] += a * ((value - level) - self.season[k]) * 0.5
            self.season_seen[k] += 1

    def _score_lines(self, y: float, dt: float) -> None:
        """Each line's one-step prediction error for ``y``, decayed over the fast half-life."""
        assert self.fast_halflife_seconds is not None
        keep = math.pow(0.5, max(dt, 0.0) / self.fast_halflife_seconds)
        fallback = self.last_y or 0.0
        for k, line in enumerate(self.lines):
            level, slope = line.line(fallback)
            miss = y - (level + slope * dt)
            self.errors[k] = keep * self.errors[k] + (1.0 - keep) * miss * miss
        self.rate_line = min(range(len(self.lines)), key=lambda k: (self.errors[k], k))

    def _watch_for_change(self, y: float, dt: float) -> None:
        """Feed the change test; on a change, refit the fast line from where it began."""
        if self.change is None:
            return
        level, slope = self._line(0)
        sigma2 = self.lines[0].uncertainty(level, slope)[0]
        if sigma2 <= 0:
            return
        k = 1 if self.lines[1].n_eff() >= 3 else 0  # once refitted, residuals of the new regime's line
        level, slope = self._line(k)
        start = self.change.update((y - level - slope * dt) / math.sqrt(sigma2), self.n)
        if start is not None:
            self.changes += 1
            self.lines[1] = self._refit(start)
            self.refit_index = self.n

    def _imminent(
        self, h: float, threshold: float, slope: float, var_slope: float
    ) -> tuple[float, float] | None:
        """(P(crossing within ``imminent_seconds``), slope z) from a line refitted after a change.

        Why: after a long quiet stretch the main line hardly moves when a gauge suddenly races to its
        limit; a pool that fills in 90 s would never be warned of. Only a refitted line with at least
        ``IMMINENT_POINTS`` points, a rate different from the main line's (``RATE_Z`` standard errors)
        and a slope ``IMMINENT_Z`` standard errors towards the threshold counts (a line through a few
        noisy points is steep by chance far more often than a normal tail says), and only for crossings within
        ``imminent_seconds``: a 30-minute batch climb ending at 85 % is not imminent, a burst of one
        sample has no slope.
        """
        if self.imminent_seconds is None or self.rate_line != 1 or not self._on_probation():
            return None
        if self.lines[1].n_eff() < IMMINENT_POINTS:
            return None
        fast_level, fast_slope = self._line(1)
        sigma2, var_level, fast_var_slope, cov = self._uncertainty(fast_level, fast_slope, 1)
        if fast_var_slope <= 0 or not _new_rate(fast_slope, fast_var_slope, slope, var_slope):
            return None
        z = self._sign() * fast_slope / math.sqrt(fast_var_slope)
        if z < IMMINENT_Z:
            return None
        lead = min(h, self.imminent_seconds)
        p = self._breach_probability(
            fast_level, fast_slope, var_level, fast_var_slope, cov, sigma2, lead, threshold
        )
        return p, z

    def _breach_reach(self, h: float) -> float:
        """How far ahead P(breach) may look: ``h``, but at most ``max_extrapolation`` times the data's span.

        Why: a line through 30 s of a quantised, noisy gauge is steep by chance often enough that
        extrapolating it 15 minutes ahead warned of exhaustion on calm young gauges (4 of 50 simulated
        pools in their first 10-17 s). Alerting rules in the wild cap it the same way: node-exporter's
        mixin extrapolates 6 h of data 24 h ahead (4x). A sudden leak on a young gauge is still caught
        by the imminent-crossing rule (``_imminent``), whose line must pass its own gates.
        """
        if self.max_extrapolation is None or self.first_t is None or self.last_t is None:
            return h
        return min(h, self.max_extrapolation * (self.last_t - self.first_t))

    def imminent_trend_z(self, threshold: float) -> float | None:
        """The slope z behind an imminent-crossing warning (``_imminent``), None when there is none."""
        if self.last_t is None:
            return None
        level, slope = self._line()
        var_slope = self._uncertainty(level, slope)[2]
        found = self._imminent(self.imminent_seconds or 0.0, threshold, slope, var_slope)
        return None if found is None else found[1]

    def _on_probation(self) -> bool:
        """A refitted fast line is on probation until it has seen ``change_memory`` points."""
        return self.refit_index is not None and self.n - self.refit_index < self.change_memory

    def _refit(self, start: int) -> DiscountedLine:
        """A fast line over the remembered points from index ``start`` on, ending at the last one."""
        assert self.fast_halflife_seconds is not None
        line = DiscountedLine(self.fast_halflife_seconds)
        first = self.n - len(self.recent_t)  # index of the oldest remembered point
        previous: float | None = None
        for j in range(max(0, start - first), len(self.recent_t)):
            t = self.recent_t[j]
            if previous is not None and t > previous:
                line.shift(t - previous)
            line.add(self.recent_y[j])
            previous = t
        return line

    def _remember(self, t: float, y: float) -> None:
        if self.change is None:
            return
        self.recent_t.append(t)
        self.recent_y.append(y)
        if len(self.recent_t) > self.change_memory:
            del self.recent_t[0]
            del self.recent_y[0]

    # -- the fitted line ------------------------------------------------------------------------
    def _line(self, k: int = 0) -> tuple[float, float]:
        """(level now, slope per second) of the deseasonalised series, from line ``k`` (0: main)."""
        return self.lines[k].line(self.last_y or 0.0)

    def _uncertainty(self, level: float, slope: float, k: int = 0) -> tuple[float, float, float, float]:
        """(residual variance, var(level), var(slope), cov(level, slope)) of line ``k``."""
        return self.lines[k].uncertainty(level, slope)

    # -- forecasting ----------------------------------------------------------------------------
    def forecast(self, horizon_seconds: float, threshold: float | None = None) -> Forecast:
        h = max(0.0, as_finite(horizon_seconds) or 0.0)
        if self.n == 0 or self.last_t is None:
            return Forecast(
                horizon_seconds=h,
                point=0.0,
                lower=0.0,
                upper=0.0,
                interval_level=self.interval_level,
                confidence=0.0,
            )
        level, slope = self._line()
        sigma2, var_level, var_slope, cov = self._uncertainty(level, slope)
        target_t = self.last_t + h
        point = level + slope * h + self._seasonal(target_t)
        sd = math.sqrt(max(var_level + h * h * var_slope + 2 * h * cov + sigma2, 0.0))
        lower, upper = point - self._z * sd, point + self._z * sd
        breach = tte = tte_lo = tte_hi = rate_used = None
        if threshold is not None and math.isfinite(threshold):
            reach = self._breach_reach(h)
            breach = self._breach_probability(
                level, slope, var_level, var_slope, cov, sigma2, reach, threshold
            )
            imminent = self._imminent(h, threshold, slope, var_slope)
            if imminent is not None:
                breach = max(breach, imminent[0])
            level_k, slope_k, var_level_k, var_slope_k = level, slope, var_level, var_slope
            if self.rate_line:  # the time to exhaustion follows the line that predicts better ...
                fast_level, fast_slope = self._line(self.rate_line)
                _, fast_var_level, fast_var_slope, _ = self._uncertainty(
                    fast_level, fast_slope, self.rate_line
                )
                # ... but a line refitted after a change alarm (a few points) only when its rate is
                # really another one, not the main line's seen through noise (a false alarm)
                if not self._on_probation() or _new_rate(fast_slope, fast_var_slope, slope, var_slope):
                    level_k, slope_k, var_level_k, var_slope_k = (
                        fast_level,
                        fast_slope,
                        fast_var_level,
                        fast_var_slope,
                    )
            tte, tte_lo, tte_hi = self._time_to_exhaustion(
                level_k, slope_k, var_level_k, var_slope_k, threshold
            )
            rate_used = slope_k
        return Forecast(
            horizon_seconds=h,
            point=point,
            lower=min(lower, point),
            upper=max(upper, point),
            interval_level=self.interval_level,
            breach_probability=breach,
            time_to_exhaustion_seconds=tte,
            time_to_exhaustion_lower=tte_lo,
            time_to_exhaustion_upper=tte_hi,
            confidence=self.confidence(),
            rate_per_second=rate_used,
        )

    def confidence(self) -> float:
        """Grows with the effective number of points behind the trend (0 while warming up)."""
        n_eff = self.lines[0].n_eff()
        if self.n < self.warmup or n_eff <= 0:
            return 0.0
        return min(1.0, n_eff / (3.0 * self.warmup))

    def growth_rate_per_day(self) -> float:
        """Trend slope in units per day (capacity planning)."""
        return self._line()[1] * 86_400.0

    def run_out_time(self, capacity: float) -> float | None:
        """Capacity planning: epoch seconds when the current trend reaches ``capacity`` (None: never)."""
        if self.last_t is None:
            return None
        tte = self.forecast(0.0, threshold=capacity).time_to_exhaustion_seconds
        return None if tte is None else self.last_t + tte

    def _sign(self) -> float:
        return 1.0 if self.direction == "up" else -1.0

    def _breach_probability(
        self,
        level: float,
        slope: float,
        var_level: float,
        var_slope: float,
        cov: float,
        sigma2: float,
        h: float,
        threshold: float,
    ) -> float:
        """P(some point in [now, now + h] is past the threshold), max over a few probe times."""
        assert self.last_t is not None
        sign = self._sign()
        best = 0.0
        steps = 12
        for i in range(steps + 1):
            dt = h * i / steps
            mean = level + slope * dt + self._seasonal(self.last_t + dt)
            sd = math.sqrt(max(var_level + dt * dt * var_slope + 2 * dt * cov + sigma2, 1e-300))
            p = _normal_cdf(sign * (mean - threshold) / sd)
            best = max(best, p)
        return min(1.0, max(0.0, best))

    def _time_to_exhaustion(
        self, level: float, slope: float, var_level: float, var_slope: float, threshold: float
    ) -> tuple[float | None, float | None, float | None]:
        """When the deseasonalised trend line reaches the threshold, with an interval from the
        slope's and level's uncertainty; None when the trend heads away from it."""
        sign = self._sign()
        gap = sign * (threshold - level)
        rate = sign * slope
        if gap <= 0:
            return 0.0, 0.0, 0.0  # already there
        if rate <= 0:
            return None, None, None
        tte = gap / rate
        if tte > self.max_tte_seconds:
            return None, None, None
        sd_rate = math.sqrt(max(var_slope, 0.0))
        sd_gap = math.sqrt(max(var_level, 0.0))
        fast_rate = rate + self._z * sd_rate
        slow_rate = rate - self._z * sd_rate
        lo = max(0.0, gap - self._z * sd_gap) / fast_rate
        hi = (gap + self._z * sd_gap) / slow_rate if slow_rate > 0 else self.max_tte_seconds
        hi = min(max(hi, tte), self.max_tte_seconds)
        return tte, min(lo, tte), hi

    # -- seasonality ----------------------------------------------------------------------------
    def _bin(self, t: float) -> int:
        phase = (t % self.seasonal_period_seconds) / self.seasonal_period_seconds
        return min(self.seasonal_bins - 1, int(phase * self.seasonal_bins))

    def _seasonal(self, t: float) -> float:
        if not self.seasonal_bins:
            return 0.0
        k = self._bin(t)
        return self.season[k] if self.season_seen[k] else 0.0
