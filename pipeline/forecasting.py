"""Exhaustion forecasts of resource gauges: where a pool, memory or disk ratio is heading, and when.

Why in the dataflow: the numbers that predict exhaustion (``db_pool_usage``, ``memory_usage``,
``disk_usage``: ratios where 1.0 is exhaustion) already arrive in the probes' ``details`` and in metric
samples; forecasting them where they are parsed gives a warning minutes before the probe fails.

Per series (``<service>/<gauge>``) an online :class:`~forewarn.models.trend.TrendForecaster` learns
every observation; then

- a :class:`~forewarn.events.ForecastEvent` is emitted at most every ``forecast.emit_every_seconds`` of
  event time, and immediately whenever P(breach within the horizon) crosses
  ``forecast.min_breach_probability`` (either way), so consumers see the turn without waiting;
- an ``exhaustion_forecast`` :class:`~forewarn.events.Detection` (its figures typed in
  ``Detection.forecast``) is emitted when P(breach) >=
  ``min_breach_probability``, the forecaster's confidence >= ``min_confidence`` and the trend is real:
  its slope is at least ``min_trend_z`` standard errors above zero. Without that test a flat, noisy
  gauge seen for ten seconds extrapolates its noise 15 minutes ahead and "breaches" about half the
  time (measured: 16 of 20 noisy flat series at 1 s probes; 0 of 20 with the test). A gauge already at
  its capacity alerts regardless of the trend. Like the other detections it is rate-limited: on
  entering the state, on escalation to critical, then at most every ``detector.realert_seconds``.

Absolute gauges (bytes used against bytes total, ``forecast.capacities``) take their capacity from a
label of their samples or from a paired metric; the pair's readings are routed to the gauge's series as
capacity updates (same service and labels, so the same key), held in its state, and a ``free`` gauge
(bytes left) is forecast as capacity - free, so "full" is forecast the same way as for a ratio.

Attribution: a gauge named in ``forecast.owners`` is taken only from its owner's probes (the demo's
``overall`` endpoint repeats the database pool; ``db_pool_usage`` belongs to ``database``), so one leak
is one series and one detection naming the right service. Other gauges (memory, disk) are taken from
whichever service reports them (``overall`` in the demo).

Event time drives everything, so a replay yields the same forecasts and detections with the same ids.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from forewarn.events import (
    Detection,
    ForecastEvent,
    ForecastFigures,
    MetricSample,
    ProbeResult,
    Severity,
    TelemetryEvent,
)
from forewarn.models.base import Forecast, normal_quantile
from forewarn.models.trend import TrendForecaster
from forewarn.pipeline.cardinality import series_name
from forewarn.settings import DetectorSettings, ForecastSettings

MODEL = "trend_forecaster"
DETECTION_KIND = "exhaustion_forecast"
CLEAR_MARGIN = 0.1  # an episode ends when P(breach) falls this far below the alert threshold
CRITICAL_PROBABILITY = 0.9

__all__ = [
    "DETECTION_KIND",
    "MODEL",
    "ForecastAlert",
    "ForecastEngine",
    "ForecastSnapshot",
    "ForecastState",
    "GaugeObservation",
    "gauge_observations",
    "trend_z",
]


@dataclass(frozen=True, slots=True)
class GaugeObservation:
    """One reading of one resource gauge, with the capacity it exhausts at.

    ``capacity`` None: the gauge's total is a paired metric whose last value the series' state holds
    (``forecast.capacities``); ``free``: the value counts what is left, forecast as capacity - value.
    A ``capacity_update`` carries that paired total (``value``) to the gauge's series and is not a reading.
    """

    series: str
    service: str
    gauge: str
    value: float
    capacity: float | None
    timestamp: datetime
    free: bool = False
    capacity_update: bool = False


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None  # a gauge must be a finite number; anything else is not learnable
    return float(value)


def _label_number(text: str | None) -> float | None:
    try:
        return _number(float(text)) if text is not None else None
    except ValueError:
        return None


def gauge_observations(event: TelemetryEvent, settings: ForecastSettings) -> list[GaugeObservation]:
    """The configured gauges an event carries (probe ``details`` or a metric sample); possibly none.

    Ratios (``forecast.gauges``) carry their capacity; absolute gauges (``forecast.capacities``) take it
    from a label, or from a paired metric, whose readings become capacity updates of the gauge's series.
    """
    labels: dict[str, str] = {}
    if isinstance(event, ProbeResult):
        readings: list[tuple[str, object]] = list(event.details.items())
        paired = event.details  # a probe's paired total is another key of its details
    elif isinstance(event, MetricSample):
        readings = [(event.name, event.value)]
        labels = event.labels
        paired = {}
    else:
        return []
    out: list[GaugeObservation] = []
    for name, raw in readings:
        owner = settings.owners.get(name)
        if owner is not None and owner != event.service:
            continue  # another endpoint's copy of a gauge that belongs to `owner`
        value = _number(raw)
        if value is None:
            continue
        if name in settings.gauges:
            series = series_name(event.service, name, labels)
            out.append(
                GaugeObservation(series, event.service, name, value, settings.gauges[name], event.timestamp)
            )
        elif name in settings.capacities:
            source = settings.capacities[name]
            free = source.measures == "free"
            capacity: float | None = None
            own = labels
            if source.label is not None:
                capacity = _label_number(labels.get(source.label))
                if capacity is None:
                    continue  # no usable total on this sample: nothing to forecast against
                own = {k: v for k, v in labels.items() if k != source.label}
            elif source.metric in paired:
                capacity = _number(paired[source.metric])
                if capacity is None:
                    continue
            series = series_name(event.service, name, own)
            out.append(GaugeObservation(series, event.service, name, value, capacity, event.timestamp, free))
        if isinstance(event, MetricSample):
            for gauge, source in settings.capacities.items():
                if source.metric == name and (settings.owners.get(gauge) in (None, event.service)):
                    series = series_name(event.service, gauge, labels)
                    update = GaugeObservation(series, event.service, gauge, value, value, event.timestamp)
                    out.append(replace(update, capacity_update=True))
    return out


def trend_z(forecaster: TrendForecaster, horizon_seconds: float) -> float:
    """The trend's t-statistic (slope / its standard error), from the forecaster's public intervals.

    Why from intervals: a linear-trend forecast's variance at lead h is ``a + 2hc + h^2 v`` (v = the
    slope's variance), so three horizons (0, h, 2h) give v exactly without reaching into the model.
    A perfect line (zero residuals) has v = 0: any nonzero slope is then infinitely significant.
    """
    h = max(horizon_seconds, 1.0)
    z = normal_quantile(0.5 + forecaster.interval_level / 2.0)
    variances = []
    for lead in (0.0, h, 2.0 * h):
        fc = forecaster.forecast(lead)
        variances.append(((fc.upper - fc.point) / z) ** 2)
    a0, a1, a2 = variances
    var_slope = ((a2 - a0) - 2.0 * (a1 - a0)) / (2.0 * h * h)
    slope = forecaster.growth_rate_per_day() / 86_400.0
    if var_slope <= 0.0:
        return math.inf if slope > 0 else (-math.inf if slope < 0 else 0.0)
    return slope / math.sqrt(var_slope)


@dataclass(frozen=True, slots=True)
class ForecastAlert:
    """Where a series stands: last forecast emitted, and its exhaustion episode. Frozen (snapshots)."""

    last_timestamp: datetime | None = None  # event time of the last observation learned
    last_forecast: datetime | None = None  # event time of the last ForecastEvent emitted
    above: bool = False  # the last emitted forecast had P(breach) >= the threshold
    active: bool = False
    severity: Severity | None = None
    last_emitted: datetime | None = None  # event time of the last detection


@dataclass(frozen=True, slots=True)
class ForecastSnapshot:
    """What Bytewax recovery stores per series: the pickled forecaster (~1.5 KB), the alert and the
    last paired capacity of an absolute gauge."""

    forecaster: bytes
    alert: ForecastAlert
    capacity: float | None = None


@dataclass(slots=True)
class ForecastState:
    forecaster: TrendForecaster
    alert: ForecastAlert
    capacity: float | None = None  # the paired metric's last value (forecast.capacities[...].metric)

    def snapshot(self) -> ForecastSnapshot:
        return ForecastSnapshot(self.forecaster.snapshot(), self.alert, self.capacity)

    @classmethod
    def restore(cls, snapshot: ForecastSnapshot) -> ForecastState:
        forecaster = pickle.loads(snapshot.forecaster)
        if not isinstance(forecaster, TrendForecaster):
            raise TypeError(f"forecast snapshot holds a {type(forecaster).__name__}")
        # snapshots from before absolute gauges have no capacity slot set
        return cls(forecaster=forecaster, alert=snapshot.alert, capacity=getattr(snapshot, "capacity", None))


class ForecastEngine:
    """Builds per-series state and runs learn -> forecast -> emit. Clock injected (``generated_at``)."""

    def __init__(
        self, settings: ForecastSettings, detector: DetectorSettings, clock: Callable[[], datetime]
    ) -> None:
        self.settings = settings
        self.realert_seconds = detector.realert_seconds
        self.clock = clock

    def new_state(self, observation: GaugeObservation) -> ForecastState:
        forecaster = TrendForecaster(
            halflife_seconds=self.settings.halflife_seconds,
            fast_halflife_seconds=self.settings.fast_halflife_seconds,
            change_threshold=self.settings.change_threshold,
            imminent_seconds=self.settings.imminent_seconds,
            max_extrapolation=self.settings.max_extrapolation,
            seasonal_bins=self.settings.seasonal_bins,
            direction="up",
        )
        return ForecastState(forecaster=forecaster, alert=ForecastAlert())

    @staticmethod
    def is_late(state: ForecastState, observation: GaugeObservation) -> bool:
        last = state.alert.last_timestamp
        return not observation.capacity_update and last is not None and observation.timestamp < last

    def step(
        self, state: ForecastState, observation: GaugeObservation
    ) -> tuple[ForecastState, list[ForecastEvent | Detection]]:
        """Learn one reading; return the forecast and/or detection it triggers (often nothing)."""
        if observation.capacity_update:
            state.capacity = observation.value if observation.value > 0 else None
            return state, []
        if self.is_late(state, observation):
            return state, []
        capacity = observation.capacity if observation.capacity is not None else state.capacity
        if capacity is None or capacity <= 0:
            return state, []  # the paired total has not been seen yet: no "full" to forecast
        used = capacity - observation.value if observation.free else observation.value
        observation = replace(observation, value=used, capacity=capacity)
        settings = self.settings
        ts = observation.timestamp
        state.forecaster.learn_one(observation.value, ts.timestamp())
        alert = replace(state.alert, last_timestamp=ts)
        fc = state.forecaster.forecast(settings.horizon_seconds, threshold=capacity)
        if fc.confidence <= 0.0:  # still warming up: its numbers mean nothing yet
            state.alert = alert
            return state, []
        probability = fc.breach_probability or 0.0
        above = probability >= settings.min_breach_probability
        out: list[ForecastEvent | Detection] = []
        detection: Detection | None = None
        z = 0.0
        if above and fc.confidence >= settings.min_confidence:
            at_capacity = fc.time_to_exhaustion_seconds == 0.0
            z = trend_z(state.forecaster, settings.horizon_seconds)
            if z < settings.min_trend_z:  # a sudden race to the limit: the refitted line's own z
                z = max(z, state.forecaster.imminent_trend_z(capacity) or z)
            if at_capacity or z >= settings.min_trend_z:
                severity = self._severity(fc, probability)
                if self._should_emit(alert, severity, ts):
                    detection = self._detection(observation, fc, probability, z, severity, state.forecaster)
                    top = (
                        severity
                        if not alert.active or alert.severity is None
                        else Severity.worst([alert.severity, severity])
                    )
                    alert = replace(alert, active=True, severity=top, last_emitted=ts)
        if alert.active and probability < settings.min_breach_probability - CLEAR_MARGIN:
            alert = replace(alert, active=False, severity=None)
        due = alert.last_forecast is None or (
            (ts - alert.last_forecast).total_seconds() >= settings.emit_every_seconds
        )
        if due or above != alert.above or detection is not None:
            out.append(self._forecast(observation, fc))
            alert = replace(alert, last_forecast=ts, above=above)
        if detection is not None:
            out.append(detection)
        state.alert = alert
        return state, out

    def _severity(self, fc: Forecast, probability: float) -> Severity:
        tte = fc.time_to_exhaustion_seconds
        soon = tte is not None and tte <= self.settings.critical_within_seconds
        return Severity.CRITICAL if probability >= CRITICAL_PROBABILITY and soon else Severity.WARNING

    def _should_emit(self, alert: ForecastAlert, severity: Severity, ts: datetime) -> bool:
        if not alert.active or alert.severity is None or alert.last_emitted is None:
            return True
        if severity is Severity.CRITICAL and alert.severity is not Severity.CRITICAL:
            return True
        return (ts - alert.last_emitted).total_seconds() >= self.realert_seconds

    def _forecast(self, observation: GaugeObservation, fc: Forecast) -> ForecastEvent:
        horizon = self.settings.horizon_seconds
        return ForecastEvent(
            id=ForecastEvent.make_id(observation.series, horizon, observation.timestamp),
            service=observation.service,
            series=observation.series,
            metric=observation.gauge,
            model=MODEL,
            timestamp=observation.timestamp,
            generated_at=self.clock(),
            current_value=observation.value,
            horizon_seconds=horizon,
            point=fc.point,
            lower=fc.lower,
            upper=fc.upper,
            interval_level=fc.interval_level,
            threshold=_capacity(observation),
            breach_probability=_unit(fc.breach_probability),
            time_to_exhaustion_seconds=fc.time_to_exhaustion_seconds,
            time_to_exhaustion_lower=fc.time_to_exhaustion_lower,
            time_to_exhaustion_upper=fc.time_to_exhaustion_upper,
            confidence=_unit(fc.confidence) or 0.0,
        )

    def _detection(
        self,
        observation: GaugeObservation,
        fc: Forecast,
        probability: float,
        z: float,
        severity: Severity,
        forecaster: TrendForecaster,
    ) -> Detection:
        # the rate the time to exhaustion assumes (a fresh leak's, after a change), else the trend's
        slope = (
            fc.rate_per_second
            if fc.rate_per_second is not None
            else forecaster.growth_rate_per_day() / 86_400.0
        )
        figures = ForecastFigures(
            horizon_seconds=self.settings.horizon_seconds,
            breach_probability=_unit(probability) or 0.0,
            time_to_exhaustion_seconds=fc.time_to_exhaustion_seconds,
            time_to_exhaustion_lower=fc.time_to_exhaustion_lower,
            time_to_exhaustion_upper=fc.time_to_exhaustion_upper,
            rate_per_second=slope,
            trend_z=z if math.isfinite(z) else 1e6,
            capacity=_capacity(observation),
            confidence=_unit(fc.confidence) or 0.0,
        )
        return Detection(
            id=Detection.make_id(observation.series, MODEL, DETECTION_KIND, observation.timestamp),
            service=observation.service,
            series=observation.series,
            detection_kind=DETECTION_KIND,
            detector=MODEL,
            timestamp=observation.timestamp,
            detected_at=self.clock(),
            score=_unit(probability) or 0.0,
            confidence=_unit(fc.confidence) or 0.0,
            severity=severity,
            value=observation.value,
            expected=fc.point,
            reason=explain(observation, fc, probability, slope, self.settings.horizon_seconds),
            forecast=figures,
        )


def _unit(value: float | None) -> float | None:
    return None if value is None else min(1.0, max(0.0, value))


def _capacity(observation: GaugeObservation) -> float:
    """The capacity of a reading the engine has resolved (its paired total filled in)."""
    if observation.capacity is None:
        raise ValueError(f"{observation.series}: capacity not resolved")
    return observation.capacity


def explain(
    observation: GaugeObservation, fc: Forecast, probability: float, slope: float, horizon: float
) -> str:
    """E.g. "database db_pool_usage 0.62 rising 0.5%/s: forecast to reach 1.0 in 74 s (60-95 s), P=0.93";
    an absolute gauge (capacity other than 1) reads "web node_filesystem_avail_bytes 7.5 GiB used of
    10 GiB rising 0.5%/s: forecast to be full in 74 s (60-95 s), P=0.93"."""
    capacity = _capacity(observation)
    tte, lo, hi = fc.time_to_exhaustion_seconds, fc.time_to_exhaustion_lower, fc.time_to_exhaustion_upper
    if capacity == 1.0:
        head = f"{observation.service} {observation.gauge} {_num(observation.value)}"
        cap, reach = _num(capacity), f"reach {_num(capacity)}"
    else:
        used, total = _amount(observation.value, observation.gauge), _amount(capacity, observation.gauge)
        head = f"{observation.service} {observation.gauge} {used} used of {total}"
        cap, reach = total, "be full"
    if tte == 0.0:
        return f"{head} is at its capacity {cap} (P={probability:.2f})"
    if tte is None:
        return f"{head} may cross {cap} within {duration(horizon)} (P={probability:.2f})"
    rising = f" rising {rate(slope, capacity)}" if slope > 0 else ""
    interval = f" ({span(lo, hi)})" if lo is not None and hi is not None else ""
    return f"{head}{rising}: forecast to {reach} in {duration(tte)}{interval}, P={probability:.2f}"


def _amount(value: float, gauge: str) -> str:
    """Bytes in binary units (7.5 GiB) when the gauge's name says bytes, else the number."""
    if not gauge.endswith("_bytes"):
        return _num(value)
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    step = 0
    while abs(value) >= 1024 and step < len(units) - 1:
        value /= 1024
        step += 1
    return f"{value:.3g} {units[step]}"


def _num(value: float) -> str:
    text = f"{value:.3g}"
    return text if any(c in text for c in ".e") or abs(value) >= 1000 else f"{text}.0"


def duration(seconds: float) -> str:
    """Human lead times: 74 s, 12 min, 3.5 h, 2.1 days."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def span(lo: float, hi: float) -> str:
    """An interval of durations, sharing the unit when it can: "60-95 s", "90 s-3 min"."""
    low, high = duration(lo), duration(hi)
    low_num, _, low_unit = low.partition(" ")
    high_unit = high.partition(" ")[2]
    return f"{low_num}-{high}" if low_unit == high_unit else f"{low}-{high}"


def rate(slope_per_second: float, capacity: float) -> str:
    """A slope as a share of capacity per the largest unit that reads well: 0.5%/s, 2%/min, 1.2%/h."""
    share = slope_per_second / capacity * 100.0 if capacity else slope_per_second
    for unit, factor in (("s", 1.0), ("min", 60.0), ("h", 3600.0)):
        if share * factor >= 0.1:
            return f"{_pct(share * factor)}%/{unit}"
    return f"{_pct(share * 86_400.0)}%/day"


def _pct(value: float) -> str:
    return f"{value:.2g}" if abs(value) < 10 else f"{value:.0f}"
