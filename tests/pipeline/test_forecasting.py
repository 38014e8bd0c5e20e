"""ForecastEngine without Bytewax: gauge extraction, a linear leak, a noisy flat control, cadence,
rate limiting and snapshots."""

from __future__ import annotations

import itertools
import pickle
import random
import re
from datetime import timedelta

import pytest
from bytewax.operators import StatefulLogic
from prometheus_client import CollectorRegistry

from forewarn.events import Detection, ForecastEvent, LogRecord, MetricSample, ProbeResult, Severity
from forewarn.metrics import forecast_metrics
from forewarn.models.trend import TrendForecaster
from forewarn.pipeline.forecast_steps import ForecastLogic, ForecastSteps
from forewarn.pipeline.forecasting import (
    DETECTION_KIND,
    MODEL,
    ForecastEngine,
    ForecastState,
    GaugeObservation,
    duration,
    gauge_observations,
    rate,
    span,
    trend_z,
)
from forewarn.pipeline.metrics import PipelineMetrics
from forewarn.settings import DetectorSettings, ForecastSettings, PipelineSettings, Settings
from tests.factories import demo_pool_usage
from tests.pipeline.engines import drive

from .conftest import WALL, at

pytestmark = pytest.mark.unit


def engine(**overrides: object) -> ForecastEngine:
    return ForecastEngine(ForecastSettings(**overrides), DetectorSettings(), clock=lambda: WALL)


def obs(seconds: float, value: float, series: str = "database/db_pool_usage") -> GaugeObservation:
    service, gauge = series.split("/")
    return GaugeObservation(
        series=series, service=service, gauge=gauge, value=value, capacity=1.0, timestamp=at(seconds)
    )


def run(eng: ForecastEngine, observations: list[GaugeObservation]) -> list[ForecastEvent | Detection]:
    return drive(eng, observations)[1]


def detections(items: list[ForecastEvent | Detection]) -> list[Detection]:
    return [i for i in items if isinstance(i, Detection)]


def forecasts(items: list[ForecastEvent | Detection]) -> list[ForecastEvent]:
    return [i for i in items if isinstance(i, ForecastEvent)]


# --- gauge extraction -------------------------------------------------------------------------------


def probe(service: str, details: dict[str, object]) -> ProbeResult:
    return ProbeResult.model_validate(
        {
            "service": service,
            "timestamp": at(0),
            "endpoint": f"http://x/api/health/{service}",
            "latency_ms": 5.0,
            "status_code": 200,
            "ok": True,
            "details": details,
        }
    )


def test_gauges_come_from_probe_details_and_metric_samples() -> None:
    settings = ForecastSettings()
    database = probe(
        "database",
        {"db_pool_usage": 0.62, "db_pool_in_use": 31, "db_reachable": True, "memory_usage": "high"},
    )
    got = gauge_observations(database, settings)
    assert got == [GaugeObservation("database/db_pool_usage", "database", "db_pool_usage", 0.62, 1.0, at(0))]
    # overall repeats the pool (owned by database: ignored here) and reports memory and disk
    overall = probe(
        "overall", {"db_pool_usage": 0.62, "memory_usage": 0.41, "disk_usage": 1, "oom_killed": False}
    )
    assert [(g.series, g.value) for g in gauge_observations(overall, settings)] == [
        ("overall/memory_usage", 0.41),
        ("overall/disk_usage", 1.0),
    ]
    sample = MetricSample(service="cache", name="memory_usage", value=0.7, timestamp=at(3))
    assert gauge_observations(sample, settings) == [
        GaugeObservation("cache/memory_usage", "cache", "memory_usage", 0.7, 1.0, at(3))
    ]
    other = MetricSample(service="cache", name="hits", value=3.0, timestamp=at(3))
    assert gauge_observations(other, settings) == []
    assert gauge_observations(LogRecord(service="auth", message="x", timestamp=at(0)), settings) == []


def test_capacity_and_ownership_are_configurable() -> None:
    settings = ForecastSettings(gauges={"queue_depth": 500.0}, owners={})
    got = gauge_observations(probe("overall", {"queue_depth": 250, "db_pool_usage": 0.9}), settings)
    assert [(g.series, g.capacity) for g in got] == [("overall/queue_depth", 500.0)]


# --- the engine ---------------------------------------------------------------------------------------


def leak(
    rng: random.Random, seconds: int, start: float = 0.2, slope: float = 0.002
) -> list[GaugeObservation]:
    """A linear leak with small noise, probed every second, until past exhaustion."""
    return [obs(i, start + slope * i + rng.gauss(0.0, 0.004)) for i in range(seconds)]


def test_linear_leak_tte_interval_covers_the_truth_and_warns_before_the_breach() -> None:
    coverage = []
    for seed in range(10):
        rng = random.Random(seed)
        eng = engine()
        observations = leak(rng, 420)  # 0.2 + 0.002 t reaches 1.0 at t = 400
        state = eng.new_state(observations[0])
        covered, checked = 0, 0
        first_alert: Detection | None = None
        first_above: float | None = None
        for o in observations:
            state, items = eng.step(state, o)
            t = (o.timestamp - at(0)).total_seconds()
            fc = state.forecaster.forecast(900.0, threshold=1.0)
            if first_above is None and (fc.breach_probability or 0) >= 0.5 and fc.confidence >= 0.3:
                first_above = t
            if 60 <= t <= 380:
                truth = 400.0 - t
                assert fc.time_to_exhaustion_seconds == pytest.approx(truth, abs=0.1 * truth + 2)
                assert fc.time_to_exhaustion_lower is not None and fc.time_to_exhaustion_upper is not None
                checked += 1
                covered += fc.time_to_exhaustion_lower <= truth <= fc.time_to_exhaustion_upper
            if first_alert is None:
                first_alert = next(iter(detections(items)), None)
        coverage.append(covered / checked)
    # 90% intervals; consecutive ones are correlated, so one run covers 45-100% of its 321 checks
    assert sum(coverage) / len(coverage) >= 0.75, coverage
    assert first_above is not None and first_above < 400 - 300  # P > 0.5 minutes before the breach
    assert first_alert is not None
    lead = 400.0 - (first_alert.timestamp - at(0)).total_seconds()
    assert lead >= 300.0
    assert first_alert.detection_kind == DETECTION_KIND and first_alert.detector == MODEL
    assert first_alert.service == "database" and first_alert.series == "database/db_pool_usage"
    assert first_alert.id == Detection.make_id(
        "database/db_pool_usage", MODEL, DETECTION_KIND, first_alert.timestamp
    )
    assert first_alert.severity is Severity.WARNING  # > 5 minutes away
    assert first_alert.reason.startswith("database db_pool_usage 0.")
    assert re.search(
        r" rising 0\.\d+%/s: forecast to reach 1\.0 in \d+ min \(\d+-\d+ min\), P=0\.\d\d$",
        first_alert.reason,
    ), first_alert.reason
    figures = first_alert.forecast
    assert figures is not None
    assert figures.breach_probability >= 0.5 and figures.trend_z >= 3.0
    lower, tte, upper = (
        figures.time_to_exhaustion_lower,
        figures.time_to_exhaustion_seconds,
        figures.time_to_exhaustion_upper,
    )
    assert lower is not None and tte is not None and upper is not None
    assert lower <= tte <= upper
    assert figures.rate_per_second == pytest.approx(0.002, rel=0.5)
    truth = lead  # seconds from the alert to the breach
    assert lower <= truth <= upper
    assert first_alert.detected_at == WALL


def test_flat_noisy_gauges_never_raise_an_exhaustion_detection() -> None:
    eng = engine()
    for seed in range(20):
        rng = random.Random(seed)
        out = run(eng, [obs(i, 0.3 + rng.gauss(0.0, 0.03)) for i in range(600)])
        assert detections(out) == [], f"seed {seed}: {detections(out)[0].reason}"
        assert len(forecasts(out)) >= 100  # it did forecast, it just saw no trend to extrapolate


def test_without_the_trend_test_noise_would_alert() -> None:
    """The control is discriminating: with min_trend_z=0 and no extrapolation cap the noise breaches."""
    eng = engine(min_trend_z=0.0, max_extrapolation=None)
    alerts = 0
    for seed in range(20):
        rng = random.Random(seed)
        alerts += bool(detections(run(eng, [obs(i, 0.3 + rng.gauss(0.0, 0.03)) for i in range(600)])))
    assert alerts >= 5


def test_forecasts_are_emitted_every_emit_every_seconds_once_warmed_up() -> None:
    out = run(engine(), [obs(i, 0.3) for i in range(30)])
    # the forecaster's warm-up is 10 points: the first forecast is at t=9, then every 5 s
    assert [f.timestamp for f in forecasts(out)] == [at(t) for t in (9, 14, 19, 24, 29)]
    first = forecasts(out)[0]
    assert first.id == ForecastEvent.make_id("database/db_pool_usage", 900.0, at(9))
    assert first.threshold == 1.0 and first.breach_probability == 0.0
    assert first.time_to_exhaustion_seconds is None and first.point == pytest.approx(0.3)
    assert first.model == MODEL and first.metric == "db_pool_usage" and first.generated_at == WALL
    assert detections(out) == []


def test_rate_limited_entry_escalation_and_realert() -> None:
    rng = random.Random(3)
    # slow leak: 0.1 + 0.0005 t reaches 1.0 at t=1800; realert every 300 s
    out = run(engine(), [obs(i, 0.1 + 0.0005 * i + rng.gauss(0, 0.002)) for i in range(0, 1800, 2)])
    alerts = detections(out)
    severities = [a.severity for a in alerts]
    assert severities[0] is Severity.WARNING
    escalation = severities.index(Severity.CRITICAL)
    for previous, current in itertools.pairwise(alerts):
        gap = (current.timestamp - previous.timestamp).total_seconds()
        assert gap >= 300 or current is alerts[escalation]
    assert 3 <= len(alerts) <= 8  # not one per observation (there are 900)
    critical = alerts[escalation]
    assert critical.forecast is not None and critical.forecast.time_to_exhaustion_seconds is not None
    assert critical.forecast.time_to_exhaustion_seconds <= 300 and critical.score >= 0.9
    # every detection comes with the forecast that backed it, same event time
    times = {f.timestamp for f in forecasts(out)}
    assert all(a.timestamp in times for a in alerts)


def test_late_observations_are_ignored() -> None:
    eng = engine()
    state = eng.new_state(obs(0, 0.3))
    for i in range(12):
        state, _ = eng.step(state, obs(i, 0.3))
    n = state.forecaster.n
    state, out = eng.step(state, obs(5, 0.9))
    assert out == [] and state.forecaster.n == n


def test_snapshot_restore_continues_exactly() -> None:
    rng = random.Random(1)
    observations = leak(rng, 300)
    eng = engine()
    unbroken = run(eng, observations)
    state = eng.new_state(observations[0])
    resumed: list[ForecastEvent | Detection] = []
    for o in observations[:150]:
        state, items = eng.step(state, o)
        resumed.extend(items)
    snapshot = pickle.loads(pickle.dumps(state.snapshot()))
    assert len(pickle.dumps(snapshot)) < 20_000
    state = ForecastState.restore(snapshot)
    for o in observations[150:]:
        state, items = eng.step(state, o)
        resumed.extend(items)
    assert resumed == unbroken and detections(unbroken)


def test_at_capacity_alerts_without_a_trend() -> None:
    out = run(engine(), [obs(i, 1.0) for i in range(20)])
    alerts = detections(out)
    assert len(alerts) == 1 and alerts[0].timestamp == at(9)
    assert alerts[0].reason == "database db_pool_usage 1.0 is at its capacity 1.0 (P=0.50)"


def test_trend_z_from_the_public_intervals() -> None:
    line = TrendForecaster(seasonal_bins=0)
    flat = TrendForecaster(seasonal_bins=0)
    noisy = TrendForecaster(seasonal_bins=0)
    rng = random.Random(0)
    for i in range(50):
        line.learn_one(0.1 + 0.01 * i, 1000.0 + i)
        flat.learn_one(0.5, 1000.0 + i)
        noisy.learn_one(0.1 + 0.01 * i + rng.gauss(0, 0.01), 1000.0 + i)
    assert trend_z(line, 900) > 1e6  # a perfect line: only rounding error in its residuals
    assert trend_z(flat, 900) == 0.0
    # slope 0.01/s, its standard error ~ sigma / sqrt(sum (t - mean)^2) = 0.01 / 102: z near 100
    assert 50 < trend_z(noisy, 900) < 200


def test_human_units() -> None:
    assert [duration(s) for s in (74.4, 130, 7300, 200_000)] == ["74 s", "2 min", "2.0 h", "2.3 days"]
    assert span(60, 95) == "60-95 s" and span(90, 200) == "90 s-3 min"
    assert rate(0.005, 1.0) == "0.5%/s"
    assert rate(0.02 / 60, 1.0) == "2%/min"
    assert rate(0.00001 / 3600, 1.0) == "0.024%/day"


def test_a_failing_forecast_step_costs_the_reading_not_the_flow() -> None:
    class Broken(ForecastEngine):
        def step(
            self, state: ForecastState, observation: GaugeObservation
        ) -> tuple[ForecastState, list[ForecastEvent | Detection]]:
            raise ValueError("cannot forecast this")

    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    broken = Broken(ForecastSettings(), DetectorSettings(), clock=lambda: WALL)
    logic = ForecastLogic(broken, metrics, forecast_metrics(registry), None)
    assert logic.on_item([obs(0, 0.5)]) == ([], StatefulLogic.RETAIN)
    healthy = ForecastLogic(engine(), metrics, forecast_metrics(CollectorRegistry()), logic.snapshot())
    assert healthy.snapshot() is not None  # the state built before the failure is still usable


def test_an_idle_series_is_dropped_after_a_day_of_silence() -> None:
    now = [WALL]
    eng = ForecastEngine(ForecastSettings(), DetectorSettings(), clock=lambda: now[0])
    registry = CollectorRegistry()
    logic = ForecastLogic(eng, PipelineMetrics(registry), forecast_metrics(registry), None)
    logic.on_item([obs(0, 0.5)])
    assert logic.notify_at() == WALL + timedelta(hours=24)
    now[0] = WALL + timedelta(hours=23)
    assert logic.on_notify() == ([], StatefulLogic.RETAIN)
    logic.on_item([obs(1, 0.5)])  # seen again: the day starts over
    now[0] = WALL + timedelta(hours=46)
    assert logic.on_notify() == ([], StatefulLogic.RETAIN)
    now[0] = WALL + timedelta(hours=47)
    assert logic.on_notify() == ([], StatefulLogic.DISCARD)


def test_the_idle_time_of_forecasts_and_log_miners_is_the_pipeline_setting() -> None:
    settings = Settings(pipeline=PipelineSettings(series_idle_seconds=3600.0))
    registry = CollectorRegistry()
    steps = ForecastSteps(settings, PipelineMetrics(registry), registry, lambda: WALL)
    assert steps.forecast_logic(None).notify_at() == WALL + timedelta(hours=1)
    assert steps.log_logic(None).notify_at() == WALL + timedelta(hours=1)
    assert Settings().pipeline.series_idle == timedelta(hours=24)


def _pool_after_calm(rng: random.Random, calm: int, leak_seconds: int) -> list[GaugeObservation]:
    """The demo's pool (50 connections, 6 +-2 in use) calm for ``calm`` s, then 0.5 leaked per second."""
    return [obs(i, v) for i, v in enumerate(demo_pool_usage(rng, calm, calm + leak_seconds))]


def test_a_sudden_leak_after_a_long_calm_is_warned_before_the_pool_is_full() -> None:
    """After 15 calm minutes the main line hardly moves in 90 s; the imminent-crossing rule warns."""

    def in_leak(items: list[ForecastEvent | Detection]) -> list[Detection]:
        # (a young series can warn in its first seconds, from the main line alone: not this test's case)
        return [d for d in detections(items) if (d.timestamp - at(0)).total_seconds() >= 900.0]

    for seed in range(4):
        found = in_leak(run(engine(), _pool_after_calm(random.Random(seed), 900, 88)))
        assert found, f"seed {seed}: no warning before exhaustion"
        lead = 988.0 - (found[0].timestamp - at(0)).total_seconds()
        assert lead >= 60.0, (seed, lead)  # 71-76 s before the pool is full (seeds 0-3)
        figures = found[0].forecast
        assert figures is not None and figures.time_to_exhaustion_seconds is not None
        assert figures.time_to_exhaustion_seconds < 180.0  # it says 1-2 minutes (65-127 s), not hours
        blind = engine(change_threshold=None)  # without the change test it is never warned of
        assert in_leak(run(blind, _pool_after_calm(random.Random(seed), 900, 88))) == []


def test_young_calm_gauges_do_not_warn_and_the_cap_is_what_stops_them() -> None:
    """A line through a young gauge's first seconds is steep by chance: P(breach) may not look 30x ahead."""
    capped = uncapped = 0
    for seed in range(50):
        calm = _pool_after_calm(random.Random(seed), 300, 0)
        capped += bool(detections(run(engine(), calm)))
        uncapped += bool(detections(run(engine(max_extrapolation=None), calm)))
    assert capped == 0
    assert uncapped >= 2  # 4 of 50 warned in their first 10-17 s without the cap
