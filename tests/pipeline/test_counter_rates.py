"""A cumulative counter is modelled as its rate per second, with Prometheus' reset rule (no Bytewax)."""

from __future__ import annotations

import pickle
import random
from datetime import UTC, datetime, timedelta

import pytest

from forewarn.events import Detection, MetricSample
from forewarn.pipeline.counters import CounterReading, counter_rate
from forewarn.pipeline.detection import AlertState, DetectionEngine, SeriesSnapshot, SeriesState
from forewarn.pipeline.observations import Observation, observations_from
from forewarn.settings import DetectorSettings
from tests.pipeline.engines import drive

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SCRAPE = 15.0  # seconds between readings, Prometheus' usual scrape interval


def reading(i: int, total: float, *, cumulative: bool = True) -> Observation:
    sample = MetricSample(
        service="web",
        name="http_requests_total",
        value=total,
        timestamp=T0 + timedelta(seconds=SCRAPE * i),
        labels={"code": "200"},
        cumulative=cumulative,
    )
    [observation] = observations_from(sample)
    return observation


def totals(n: int, burst: range = range(0), seed: int = 1) -> list[float]:
    """A counter of ~50 requests/s with Poisson-like noise; 4x the rate during ``burst``."""
    rng = random.Random(seed)
    total, out = 1e6, []
    for i in range(n):
        per_scrape = SCRAPE * 50.0 * (4 if i in burst else 1)
        total += rng.gauss(per_scrape, per_scrape**0.5)
        out.append(total)
    return out


def run(engine: DetectionEngine, observations: list[Observation]) -> tuple[SeriesState, list[Detection]]:
    return drive(engine, observations)


def test_the_rate_follows_prometheus_rules_for_first_reading_resets_and_resends() -> None:
    rate, last = counter_rate(None, 100.0, 10.0)
    assert rate is None and last == CounterReading(100.0, 10.0)
    rate, last = counter_rate(last, 130.0, 25.0)
    assert rate == 2.0 and last == CounterReading(130.0, 25.0)
    assert counter_rate(last, 130.0, 25.0) == (None, last), "a resend keeps the earlier reading"
    assert counter_rate(last, 999.0, 20.0) == (None, last), "an older reading moves nothing"
    rate, last = counter_rate(last, 6.0, 28.0)
    assert rate == 2.0, "a drop is a restart from zero: 6 requests in 3 s"


def test_a_counter_is_a_series_of_its_own_named_as_its_rate() -> None:
    counted, level = reading(0, 5.0), reading(0, 5.0, cumulative=False)
    assert counted.series == 'web/rate(http_requests_total){code="200"}'
    assert counted.feature == "rate(http_requests_total)" and counted.cumulative
    assert level.series == 'web/http_requests_total{code="200"}' and not level.cumulative


def test_a_steady_counter_is_quiet_and_a_burst_in_its_rate_is_detected_as_a_rate() -> None:
    engine = DetectionEngine(DetectorSettings(), clock=lambda: T0)  # the dataflow's default detector
    burst = range(2500, 2520)
    observations = [reading(i, total) for i, total in enumerate(totals(3000, burst))]
    _, found = run(engine, observations)
    at = [round((d.timestamp - T0).total_seconds() / SCRAPE) for d in found]
    assert [i for i in at if i not in burst] == [], "a steady rate raised an alert"
    assert at and at[0] == burst.start, at
    first = found[0]
    assert first.series == 'web/rate(http_requests_total){code="200"}'
    assert 150 < first.value < 250, "the detection's value is the rate per second, not the total"
    assert first.expected is not None and 40 < first.expected < 60
    assert "rate(http_requests_total) = " in first.reason


def test_the_first_reading_and_a_resend_give_no_rate_and_no_detection() -> None:
    engine = DetectionEngine(DetectorSettings(), clock=lambda: T0)
    state = engine.new_state(reading(0, 100.0))
    state, found = engine.step(state, reading(0, 100.0))
    assert found == [] and state.counter == CounterReading(100.0, T0.timestamp())
    assert state.alert.last_timestamp is None, "nothing was learned yet"
    state, _ = engine.step(state, reading(1, 850.0))
    learned = pickle.dumps(state.detector)
    state, _ = engine.step(state, reading(1, 850.0))
    assert pickle.dumps(state.detector) == learned, "a resend taught the detector a zero rate"
    assert state.counter == CounterReading(850.0, (T0 + timedelta(seconds=SCRAPE)).timestamp())


def test_a_restored_series_continues_its_rate_from_the_snapshot() -> None:
    engine = DetectionEngine(DetectorSettings(), clock=lambda: T0)
    observations = [reading(i, total) for i, total in enumerate(totals(400))]
    state, _ = run(engine, observations[:300])
    restored = SeriesState.restore(pickle.loads(pickle.dumps(state.snapshot())))
    assert restored.counter == state.counter
    for observation in observations[300:]:
        state, _ = engine.step(state, observation)
        restored, _ = engine.step(restored, observation)
    assert restored.counter == state.counter
    feature = observations[0].feature
    t = observations[-1].timestamp.timestamp() + SCRAPE
    for rate in (0.0, 50.0, 200.0):  # the same rates learned: the same scores
        x = {feature: rate}
        assert restored.detector.score_one(x, t) == state.detector.score_one(x, t)


def test_a_snapshot_from_before_counters_restores_without_one() -> None:
    engine = DetectionEngine(DetectorSettings(), clock=lambda: T0)
    state = engine.new_state(reading(0, 1.0, cumulative=False))
    old = object.__new__(SeriesSnapshot)  # as unpickled from a store written by the last release
    object.__setattr__(old, "detector", pickle.dumps(state.detector))
    object.__setattr__(old, "alert", AlertState())
    assert SeriesState.restore(old).counter is None
