"""The likelihood detector (half of the default, ``likelihood_cad``): robust residuals, one alert per event.

Why this design (each part kept because it won on NAB, measured with ``forewarn bench nab``):

* Residuals are measured against an exponentially weighted level (``level_alpha``: ~100 events of
  memory) plus a time-of-day profile (``seasonal_bins``), so a level shift is flagged when it happens
  and then becomes the new normal, and a daily cycle is not an anomaly. A second channel compares a
  short-run mean with that level (``drift_alpha``) and catches slow drifts a single point hides.
* The unit of surprise is the larger of the mean absolute deviation and the running 99th percentile
  of |residual| (``tail_quantile``, tracked by pinball-loss SGD): heavy-tailed series (tweet counts,
  bursty traffic) need a bigger excursion to alarm. On NAB this cut false positives by 40 %.
* A raw surprise is not comparable across series (a noisy series is always "surprising"), so the
  capped surprise is also compared with the series' own long-run distribution of surprise (the
  anomaly-likelihood idea of Numenta's HTM). The score is the geometric blend of that relative
  evidence and the absolute one (``blend_weight``), so one threshold serves latency, error rate
  and resource gauges alike.
* An incident is reported once, not on every row: a score that does not beat the recent peak
  (decaying with ``suppress_halflife`` events) is reported as 0. This alert de-duplication is what
  on-call wants and is worth ~10 NAB points.
* A routine job is reported on two nights, not every night: once an alert-worthy excursion came at
  the same time of day (the same ``seasonal_bins`` bin) on two earlier days within ``seasonal_memory``
  periods (a week of days), a score no larger than theirs is reported as 0. The peak above decays, and
  a score saturates near 1, so a nightly spike of the same size beat the decayed peak every night, in
  NAB's cloud metrics as in a real cron job. Two days, so that one incident at the same hour as another
  the day before still alerts; a week, so that a daily job is routine while it keeps coming and news
  again after a quiet week. A weekly job (a Sunday backup) is routine the same way once it came on two
  earlier weeks, at the same time of day within half a day, within ``weekly_memory`` weeks (a month).
  "No larger" compares sizes, |value - expected|, and allows for the noise in a job's size: at most
  ``routine_size`` (1.5) times the largest earlier run, so a job half again as large is news. Evidence
  cannot say it: it saturates, and the same weekly job scored 0.953 one week and 0.958 the next.
* A level shift is learned as a new level, not as noise: a one-sided run of values more than
  ``shift_units`` (5) units from the expectation that lasts ``shift_periods`` (one) seasonal period
  hands back the dispersion learned before it, with the level moved to the run's mean
  (``models/level_shift.py``). Without it the tail learned from the level catching up left the
  detector deaf for the rest of a NAB file after a deploy-like shift. Five units: one-sided runs
  that far are not noise (a Gaussian residual passes 5 sigma once in ~3.5 million); a period: no
  part of a daily cycle lasts that long. Figures, and 3 and 8 units, 1 and 2 periods, in bench/README.md.
* A lone value past ``raw_cap`` units (a broken scrape) is forgotten once the next value is back
  (``forget_spikes``): what it moved in the level, profile and dispersion is handed back. Its pull on
  the level had made every later value a large residual while the level came back, and the tail grew
  from them. On by default (``likelihood`` alone); ``LikelihoodContextDetector`` and
  ``RecordLikelihoodDetector`` turn it off, since CAD's bins and the record rule carry them past a
  spike and it cost them clean points (bench/README.md).
* O(1) per event and a few KB of state per series (no windows of raw values; the routine memory holds
  at most 6 days per time-of-day bin), so a dataflow can hold one instance per series for thousands.
* Gaps (None/NaN/text), out-of-order or missing timestamps and flat stretches are taken in stride: a
  missing value scores 0 with confidence 0 and is not learned; a zero-variance series has a scale
  floor; a late event is scored but does not move the clock.

Tried and dropped (worse on NAB): averaging surprise over several events before the likelihood,
an empirical-histogram likelihood, log-transformed values, a value-transition (sequence novelty)
model, a volatility channel, weekly profiles, fixed refractory periods.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from forewarn.models.base import AnomalyScore, Snapshottable, as_finite, normal_quantile
from forewarn.models.level_shift import ShiftRun
from forewarn.models.river_compat import RiverDetector

_WEEKLY_DAYS = 6  # days kept per time-of-day bin for the weekly rule: at most 24 x 6 x 2 floats
_WEEKLY_MEMORY = 4.0  # the defaults of the routine rule, also given to snapshots that had none
_ROUTINE_SIZE = 1.5
# what learning a lone spike moves, and ``_after_spike`` hands back (with its time-of-day bin's profile)
_SPIKE_MOVES = ("level", "fast_mean", "scale", "drift_scale", "tail", "magnitude")


class LikelihoodDetector(Snapshottable, RiverDetector):
    """Online univariate detector; ``score_one`` is in [0, 1], higher is more anomalous.

    ``feature`` names the input to read from ``x``; None takes the first value. ``direction="up"``
    ignores drops (latency, error rate), ``"down"`` ignores rises. A score >= 0.5 is an alert (the
    threshold tuned on NAB); after an alert the detector reports 0 until an excursion beats it, so
    callers should alert on the first score >= 0.5 instead of waiting for a streak. Hyperparameters
    are constructor arguments stored under the same name (River style), so ``repr`` and cloning work.
    """

    def __init__(
        self,
        feature: str | None = None,
        level_alpha: float = 0.01,
        scale_alpha: float = 0.005,
        tail_quantile: float = 0.99,
        tail_rate: float = 0.05,
        drift_alpha: float = 0.1,
        seasonal_bins: int = 24,
        seasonal_period_seconds: float = 86_400.0,
        seasonal_alpha: float = 0.05,
        raw_cap: float = 20.0,
        history_alpha: float = 0.0003,
        min_history_std: float = 0.0001,
        warmup: int = 30,
        suppress_halflife: float = 3000.0,
        blend_weight: float = 0.5,
        alert_evidence: float = 0.82,
        direction: str = "both",
        relative_floor: float = 1e-12,
        seasonal_memory: float = 7.0,
        weekly_memory: float = _WEEKLY_MEMORY,
        routine_size: float = _ROUTINE_SIZE,
        shift_units: float = 5.0,
        shift_periods: float = 1.0,
        forget_spikes: bool = True,
    ) -> None:
        if direction not in {"both", "up", "down"}:
            raise ValueError(f"direction must be 'both', 'up' or 'down', got {direction!r}")
        if not 0.0 <= tail_quantile < 1.0:
            raise ValueError(f"tail_quantile must be in [0, 1), got {tail_quantile}")
        if not 0.0 < alert_evidence < 1.0:
            raise ValueError(f"alert_evidence must be in (0, 1), got {alert_evidence}")
        if raw_cap <= 0:
            raise ValueError(f"raw_cap must be > 0, got {raw_cap}")
        if seasonal_memory < 0 or weekly_memory < 0:
            raise ValueError(f"memories must be >= 0, got {seasonal_memory} and {weekly_memory}")
        if routine_size < 1.0:
            raise ValueError(f"routine_size must be >= 1, got {routine_size}")
        if shift_units < 0 or shift_periods <= 0:
            raise ValueError(
                f"shift_units must be >= 0 and shift_periods > 0, got {shift_units}, {shift_periods}"
            )
        self.feature = feature
        self.level_alpha = level_alpha
        self.scale_alpha = scale_alpha
        self.tail_quantile = tail_quantile
        self.tail_rate = tail_rate
        self.drift_alpha = drift_alpha
        self.seasonal_bins = seasonal_bins
        self.seasonal_period_seconds = seasonal_period_seconds
        self.seasonal_alpha = seasonal_alpha
        self.raw_cap = raw_cap
        self.history_alpha = history_alpha
        self.min_history_std = min_history_std
        self.warmup = warmup
        self.suppress_halflife = suppress_halflife
        self.blend_weight = blend_weight
        self.alert_evidence = alert_evidence
        self.direction = direction
        self.relative_floor = relative_floor
        self.seasonal_memory = seasonal_memory
        self.weekly_memory = weekly_memory
        self.routine_size = routine_size
        self.shift_units = shift_units
        self.shift_periods = shift_periods
        self.forget_spikes = forget_spikes
        # |N(0,1)| quantile matching tail_quantile, so Gaussian data gets the same unit either way
        self._tail_z = normal_quantile(0.5 + tail_quantile / 2.0) if tail_quantile > 0 else 1.0
        # Learned state: a handful of floats plus the seasonal profile.
        self.n = 0
        self.level = 0.0
        self.scale = 0.0
        self.tail = 0.0
        self.magnitude = 0.0
        self.fast_mean = 0.0
        self.drift_scale = 0.0
        self.hist_mean = 0.0
        self.hist_var = 0.0
        self.n_hist = 0
        self.peak = 0.0
        self.last_t: float | None = None
        self.season: list[float] = [0.0] * seasonal_bins
        # per time-of-day bin, alert-worthy excursions (seasonal_memory): the largest size since the
        # bin's memory last started, when the latest came, and when the one before it came on another day
        self.bin_size: list[float] = [0.0] * seasonal_bins
        self.bin_peak_t: list[float] = [-math.inf] * seasonal_bins
        self.bin_prev_t: list[float] = [-math.inf] * seasonal_bins
        # per bin, the last days with such excursions within weekly_memory: [t, size, t, size, ...]
        self.bin_days: list[list[float]] = [[] for _ in range(seasonal_bins)]
        self.shift_run = None  # a one-sided run of far values that may be a new level
        self.shift_events = 0  # events of the last new level taken in, until ``take_shift`` reads it
        self.spike_undo: tuple[float, ...] | None = None  # what a lone value past raw_cap units moved

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(feature={self.feature!r}, level_alpha={self.level_alpha}, "
            f"scale_alpha={self.scale_alpha}, tail_quantile={self.tail_quantile}, "
            f"drift_alpha={self.drift_alpha}, seasonal_bins={self.seasonal_bins}, "
            f"raw_cap={self.raw_cap}, history_alpha={self.history_alpha}, "
            f"suppress_halflife={self.suppress_halflife}, blend_weight={self.blend_weight}, "
            f"alert_evidence={self.alert_evidence}, direction={self.direction!r}, "
            f"relative_floor={self.relative_floor}, seasonal_memory={self.seasonal_memory}, "
            f"weekly_memory={self.weekly_memory}, routine_size={self.routine_size}, "
            f"shift_units={self.shift_units}, shift_periods={self.shift_periods}, "
            f"forget_spikes={self.forget_spikes})"
        )

    # -- public verbs -------------------------------------------------------------------------
    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        value = self._value(x)
        if value is None or self.n == 0:
            return AnomalyScore(score=0.0, confidence=0.0)
        t = self._clock(t)
        k = self._bin_of(t)
        expected = self._expected_at(k)
        return self._scored(self._evidence(value, expected), value, expected, self._peak_decay(), k, t)

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        value = self._value(x)
        if value is None:
            return
        if self.n == 0:
            self._start(value, t)
            return
        t = self._clock(t)
        k = self._bin_of(t)
        expected = self._expected_at(k)
        raw = self._raw(value, expected)
        evidence = self._evidence(value, expected) if self.suppress_halflife > 0 else 0.0
        self._learn(value, t, k, expected, raw, evidence, self._peak_decay())

    def score_learn_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        """``score_one`` then ``learn_one`` (the same numbers, tested), computing the surprise once.

        The dataflow's per-observation step: the two verbs apart compute it three times.
        """
        value = self._value(x)
        if value is None or self.n == 0:
            self.learn_one(x, t)  # a gap learns nothing; the first value starts the series
            return AnomalyScore(score=0.0, confidence=0.0)
        score, confidence, expected = self.score_learn_value(value, t)
        return AnomalyScore(
            score=score, confidence=confidence, drivers={self.feature or "value": score}, expected=expected
        )

    def score_learn_value(self, value: float, t: float | None) -> tuple[float, float, float]:
        """``score_learn_one`` for a finite value once the series has started, as plain numbers.

        Why: ``LikelihoodContextDetector`` combines two parts per event; building a score object
        and a drivers dict for a part it only reads three numbers of was a tenth of its cost.
        Returns (score, confidence, expected), all before learning.
        """
        t = self._clock(t)
        k = self._bin_of(t)
        expected = self._expected_at(k)
        z = self._z(value, expected)
        raw = self._capped(z, value, expected)
        evidence = self._evidence_of(value, expected, raw, z)
        decay = self._peak_decay()
        score = self._scored_value(evidence, value, expected, decay, k, t)
        confidence = self.confidence()
        self._learn(value, t, k, expected, raw, evidence if self.suppress_halflife > 0 else 0.0, decay)
        return score, confidence, expected

    def _scored(
        self, evidence: float, value: float, expected: float, decay: float, k: int | None, t: float | None
    ) -> AnomalyScore:
        """The reported score of ``evidence``: 0 unless it beats the recent peak, then rescaled."""
        score = self._scored_value(evidence, value, expected, decay, k, t)
        return AnomalyScore(
            score=score,
            confidence=self.confidence(),
            drivers={self.feature or "value": score},
            expected=expected,
        )

    def _scored_value(
        self, evidence: float, value: float, expected: float, decay: float, k: int | None, t: float | None
    ) -> float:
        """``evidence`` reported, or 0: the same incident as the recent peak, or a routine job."""
        score = evidence
        if self.suppress_halflife > 0 and score <= self.peak * decay:
            score = 0.0  # not above the recent peak: the same incident, already reported
        elif self._routine(abs(value - expected), k, t):
            score = 0.0  # no larger than on two earlier days (or weeks) at this time of day: a routine job
        return self._rescale(score)

    def _remember(
        self, evidence: float, value: float, expected: float, k: int | None, t: float | None
    ) -> None:
        """Note an alert-worthy excursion (``alert_evidence``) in time-of-day bin ``k``, by its size
        (the value's distance from the expected one).

        A bin whose latest excursion is older than ``seasonal_memory`` periods starts over; one that
        comes half a period or more after the latest is on another day (the one before moves back).
        The bin's days within ``weekly_memory`` weeks are kept too (the last ``_WEEKLY_DAYS``).
        """
        if evidence < self.alert_evidence or not self.seasonal_memory or k is None or t is None:
            return
        period, size = self.seasonal_period_seconds, abs(value - expected)
        if self.weekly_memory:
            self._remember_day(self.bin_days[k], size, t)
        if t - self.bin_peak_t[k] > self.seasonal_memory * period:
            self.bin_size[k], self.bin_peak_t[k], self.bin_prev_t[k] = size, t, -math.inf
            return
        if t - self.bin_peak_t[k] >= 0.5 * period:
            self.bin_prev_t[k], self.bin_peak_t[k] = self.bin_peak_t[k], t
        self.bin_size[k] = max(self.bin_size[k], size)

    def _remember_day(self, days: list[float], size: float, t: float) -> None:
        if days and t - days[-2] < 0.5 * self.seasonal_period_seconds:  # the same day: its largest
            days[-1] = max(days[-1], size)
            return
        days.extend((t, size))
        horizon = t - self.weekly_memory * 7 * self.seasonal_period_seconds
        while days and (days[0] < horizon or len(days) > 2 * _WEEKLY_DAYS):
            del days[:2]

    def _routine(self, size: float, k: int | None, t: float | None) -> bool:
        """Whether bin ``k`` had excursions about as large as ``size`` (within ``routine_size``) on two
        earlier days within the memory, or on two earlier weeks at whole weeks before this one."""
        if not self.seasonal_memory or k is None or t is None:
            return False
        period = self.seasonal_period_seconds
        recent = t - self.bin_prev_t[k] <= self.seasonal_memory * period
        if recent and size <= self.routine_size * self.bin_size[k]:
            return True
        if not self.weekly_memory:
            return False
        days, week, weeks, top = self.bin_days[k], 7 * period, 0, 0.0
        for i in range(0, len(days), 2):
            ago = t - days[i]
            whole = round(ago / week)
            if whole >= 1 and abs(ago - whole * week) <= 0.5 * period and ago <= self.weekly_memory * week:
                weeks += 1
                top = max(top, days[i + 1])
        return weeks >= 2 and size <= self.routine_size * top

    def __setstate__(self, state: dict[str, object]) -> None:
        """Snapshots of the release before sizes kept evidence in ``bin_peak``: that memory starts over,
        in sizes, with this release's weekly rule; older ones keep ``seasonal_memory`` 0 (class value)."""
        self.__dict__.update(state)
        if "bin_days" not in state:
            self.bin_days = [[] for _ in range(self.seasonal_bins)]
        if "bin_peak" in state and "bin_size" not in state:
            del self.__dict__["bin_peak"]
            bins = self.seasonal_bins
            self.bin_size, self.bin_peak_t, self.bin_prev_t = (
                [0.0] * bins,
                [-math.inf] * bins,
                [-math.inf] * bins,
            )
            self.weekly_memory, self.routine_size = _WEEKLY_MEMORY, _ROUTINE_SIZE

    def _start(self, value: float, t: float | None) -> None:
        self.level = self.fast_mean = value
        self.magnitude = abs(value)
        self.n = 1
        self.last_t = t

    def _learn(
        self,
        value: float,
        t: float | None,
        k: int | None,
        expected: float,
        raw: float,
        evidence: float,
        decay: float,
    ) -> None:
        """Learn ``value`` (time-of-day bin ``k``) given its capped surprise ``raw`` and ``evidence``,
        both before learning, and the peak's ``decay`` per event (computed once per event)."""
        if self.spike_undo is not None:
            expected = self._after_spike(value, k, expected)
        residual = value - expected
        if self.shift_units > 0 and self.n_hist >= self.warmup:
            started = self._watch_shift(value, residual, t, k)
            if self.forget_spikes and started and abs(residual) > self.raw_cap * self._unit():
                self.spike_undo = self._state_before_spike(k, residual)
        if self.suppress_halflife > 0:
            self.peak = max(self.peak * decay, evidence)
            self._remember(evidence, value, expected, k, t)
        if self.n >= 3:
            # long-run distribution of surprise: EW mean/variance (Welford-style)
            a = max(self.history_alpha, 1.0 / (self.n_hist + 1))
            delta = raw - self.hist_mean
            self.hist_mean += a * delta
            self.hist_var = (1 - a) * (self.hist_var + a * delta * delta)
            self.n_hist += 1
        a_scale = max(self.scale_alpha, 1.0 / (self.n + 1))
        if self.drift_alpha > 0:
            self.fast_mean += self.drift_alpha * ((residual + self.level) - self.fast_mean)
            self.drift_scale += a_scale * (abs(self.fast_mean - self.level) - self.drift_scale)
        self.scale += a_scale * (abs(residual) - self.scale)
        if self.tail_quantile > 0:
            # pinball-loss SGD: tracks the tail_quantile of |residual|
            step = self.tail_rate * self.scale
            if abs(residual) > self.tail:
                self.tail += step * self.tail_quantile
            else:
                self.tail = max(0.0, self.tail - step * (1.0 - self.tail_quantile))
        self.magnitude += a_scale * (abs(value) - self.magnitude)
        if k is None:
            self.level += self.level_alpha * (value - self.level)
        else:
            self.level += self.level_alpha * (value - self.level - self.season[k])
            self.season[k] += self.seasonal_alpha * (value - self.level - self.season[k])
        if t is not None:
            self.last_t = t
        self.n += 1
        run = self.shift_run
        if run is not None and run.lasted(
            t, self._shift_period(k), round(1.0 / self.level_alpha), self.warmup
        ):
            self._take_new_level(run)

    def _after_spike(self, value: float, k: int | None, expected: float) -> float:
        """The value after one past ``raw_cap`` units: unless it is as far on the same side, that
        value was a spike (a broken scrape), and what it taught the level, profile and dispersion is
        forgotten; the expectation for ``value`` is then the one from before it.

        Why: its pull on the level (a hundredth of a 10,000-sigma value) made every value after it
        a large residual while the level came back, and the tail grew from them: `likelihood` alone
        went deaf for the rest of a NAB file after one absurd value. The surprise history and the
        alert peak keep it: it was seen and reported.
        """
        undo, self.spike_undo = self.spike_undo, None
        if undo is None:
            return expected
        residual = value - expected
        if residual * undo[0] > 0 and abs(residual) > self.shift_units * self._unit():
            return expected  # as far on the same side: a burst or a shift, not a lone spike
        _, spike_bin, seasonal, *moved = undo
        for name, before in zip(_SPIKE_MOVES, moved, strict=True):
            setattr(self, name, before)
        if spike_bin >= 0:
            self.season[int(spike_bin)] = seasonal
        return self._expected_at(k)

    def _state_before_spike(self, k: int | None, residual: float) -> tuple[float, ...]:
        """The spike's side, then what learning it in bin ``k`` moves (bin -1: none), for ``_after_spike``."""
        side, spike_bin = (1.0 if residual > 0 else -1.0), (float(k) if k is not None else -1.0)
        seasonal = self.season[k] if k is not None else 0.0
        return (side, spike_bin, seasonal, *(getattr(self, name) for name in _SPIKE_MOVES))

    def _shift_period(self, k: int | None) -> float | None:
        """How long a run must last by the clock to be a new level; None: count events instead."""
        return self.shift_periods * self.seasonal_period_seconds if k is not None else None

    def _watch_shift(self, value: float, residual: float, t: float | None, k: int | None) -> bool:
        """Continue or end the current run with ``value`` (``residual`` from the expectation), or
        start one (before ``value`` is learned); whether a run starts at ``value``."""
        run = self.shift_run
        if run is not None and run.holds(value, k, self.shift_units):
            return False
        # the unit is at least the MAD-based sigma: most values are ruled out without computing it
        if abs(residual) <= self.shift_units * 1.2533 * self.scale:
            self.shift_run = None
            return False
        unit = self._unit()
        if abs(residual) <= self.shift_units * unit:
            self.shift_run = None
            return False
        seasonal = self.season[k] if k is not None else 0.0
        saved = (self.scale, self.tail, self.drift_scale, self.hist_mean, self.hist_var, self.peak)
        side = 1 if residual > 0 else -1
        self.shift_run = ShiftRun(self.level, list(self.season), unit, side, value - seasonal, t, saved)
        return True

    def _take_new_level(self, run: ShiftRun) -> None:
        """The run is a new level: the dispersion and profile from before it, the level at its mean.

        The recent peak, too: an incident that became the new level is over, so a later excursion
        is news, as it would have been without the shift.
        """
        self.scale, self.tail, self.drift_scale, self.hist_mean, self.hist_var, peak = run.saved
        self.peak = peak * self._peak_decay() ** run.count
        self.season = run.season
        self.level = self.fast_mean = run.new_level()
        self.shift_events = run.count
        self.shift_run = None

    def take_shift(self) -> int:
        """Events since a new level began, once after it is taken in (else 0): a caller with
        state of its own (the contextual part's bins) can refit to the new level too."""
        events, self.shift_events = self.shift_events, 0
        return events

    def confidence(self) -> float:
        """Grows from 0 to 1 over warm-up; policies threshold it to ignore cold-start scores."""
        return min(1.0, self.n_hist / max(1.0, 4.0 * self.warmup))

    # -- internals ----------------------------------------------------------------------------
    def _clock(self, t: float | None) -> float | None:
        """Event time for the seasonal profile; a late (out-of-order) event keeps the newest time."""
        t = as_finite(t)
        if t is None or (self.last_t is not None and t < self.last_t):
            return self.last_t
        return t

    def _rescale(self, evidence: float) -> float:
        """Map evidence so that ``alert_evidence`` (the NAB-optimal threshold) lands on 0.5.

        Monotone, so rankings and NAB scores are unchanged; it only lets the dataflow's generic
        alert threshold of 0.5 mean "alert" for this detector too.
        """
        a = self.alert_evidence
        if evidence <= a:
            return 0.5 * evidence / a
        return min(1.0, 0.5 + 0.5 * (evidence - a) / (1.0 - a))

    def _peak_decay(self) -> float:
        """The recent peak's decay per event (1 when de-duplication is off)."""
        return math.pow(0.5, 1.0 / self.suppress_halflife) if self.suppress_halflife > 0 else 1.0

    def _bin(self, t: float) -> int:
        phase = (t % self.seasonal_period_seconds) / self.seasonal_period_seconds
        return min(self.seasonal_bins - 1, int(phase * self.seasonal_bins))

    def _bin_of(self, t: float | None) -> int | None:
        """The time-of-day bin of ``t``; None without a seasonal profile or a time."""
        if not self.seasonal_bins or t is None:
            return None
        return self._bin(t)

    def _expected_at(self, k: int | None) -> float:
        """The level plus the time-of-day profile at bin ``k`` (None: no profile or no time)."""
        return self.level + (self.season[k] if k is not None else 0.0)

    # snapshots from before the parameter existed restore with the value they were built with
    relative_floor = 1e-6
    seasonal_memory = 0.0
    weekly_memory = 0.0
    routine_size = 1.0
    shift_units = 0.0
    shift_periods = 1.0
    shift_run: ShiftRun | None = None
    shift_events = 0
    forget_spikes = False
    spike_undo: tuple[float, ...] | None = None

    def _floor(self) -> float:
        """The smallest unit of surprise: ``relative_floor`` of the series' magnitude (flat series).

        Why 1e-12 (the default): it only has to lift the unit above float64's rounding of a residual
        of a value that large (~1e-16 of it, a little more after the level's running updates), so a
        perfectly flat series does not alarm on rounding; 1e-12 leaves a factor of ~10^4. Any larger
        share breaks scale-freedom: with the old 1e-6, a gauge whose level is 10^7 times its noise (an
        epoch timestamp, a byte counter) was floored and its anomalies went unseen (measured in
        bench/README.md). ``RecordLikelihoodDetector`` had 1e-9, and now this default too.

        Only a series of exact zeros (magnitude 0) gets an absolute unit, 1e-9, so that its first
        move is finite surprise. That unit added to every series' floor, as before, broke
        scale-freedom the other way: a gauge whose noise is far below 1e-9 (a ratio in units of
        10^-12) was floored and its anomalies went unseen (bench/README.md).
        """
        floor = self.relative_floor * self.magnitude
        return floor if floor > 0.0 else 1e-9

    def _unit(self) -> float:
        """The unit of surprise: the larger of the MAD-based sigma and the tail-quantile sigma."""
        unit = self.scale * 1.2533
        if self.tail_quantile > 0:
            unit = max(unit, self.tail / self._tail_z)
        return max(unit, self._floor())

    def _z(self, value: float, expected: float) -> float:
        """|residual| in units of surprise."""
        return abs(value - expected) / self._unit()

    def _drift(self, value: float, expected: float) -> float:
        """Deviation of the short-run mean from the long-run level, in its own usual units."""
        fm = self.fast_mean + self.drift_alpha * ((value - expected + self.level) - self.fast_mean)
        return abs(fm - self.level) / max(self.drift_scale * 1.2533, self._floor())

    def _raw(self, value: float, expected: float) -> float:
        """Capped surprise in [0, 1]: the stronger of the point and the drift channel."""
        return self._capped(self._z(value, expected), value, expected)

    def _capped(self, z: float, value: float, expected: float) -> float:
        """``_raw`` given the point surprise ``z`` already computed."""
        if self.drift_alpha > 0 and self.n > 2:
            z = max(z, self._drift(value, expected))
        return min(z, self.raw_cap) / self.raw_cap

    def _evidence(self, value: float, expected: float) -> float:
        """The score before de-duplication: relative (likelihood) and absolute evidence, blended."""
        if self.n_hist < self.warmup:
            return 0.0
        z = self._z(value, expected)
        return self._evidence_of(value, expected, self._capped(z, value, expected), z)

    def benign(self, value: float, expected: float) -> bool:
        """True when ``value`` left ``expected`` the way ``direction`` ignores (latency: faster)."""
        up, down = self.direction == "up", self.direction == "down"
        return (up and value < expected) or (down and value > expected)

    def _evidence_of(self, value: float, expected: float, raw: float, z: float) -> float:
        """``_evidence`` given the capped surprise ``raw`` and the point surprise ``z``."""
        if self.n_hist < self.warmup:
            return 0.0
        if self.benign(value, expected):
            return 0.0
        std = max(math.sqrt(self.hist_var), self.min_history_std)
        zz = max(0.0, (raw - self.hist_mean) / std)
        relative = zz / (1.0 + zz)  # monotone in the Gaussian tail, never saturates to a tie at 1
        absolute = z / (1.0 + z)
        w = self.blend_weight
        return min(1.0, math.pow(relative, w) * math.pow(absolute, 1.0 - w))
