"""One generic check suite that every forewarn model must pass (the way river.checks does it).

Why generic: the dataflow swaps models by configuration, so the contract (pickle round trip, determinism,
no NaN on hostile input, score range, bounded state per series) is proven once for all of them. A new
model joins by adding a factory to DETECTORS or FORECASTERS.
"""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable, Hashable
from typing import Any

import pytest
from river.base import AnomalyDetector

from forewarn.models import registry
from forewarn.models.base import AnomalyScore, Detector, Forecast, Forecaster, score_learn

pytestmark = pytest.mark.unit

STATE_BUDGET_BYTES = 20 * 1024

DETECTORS = registry.detectors()
FORECASTERS = registry.forecasters()
PROBABILITIES = registry.probabilities()

# A day of a latency-like series at one-minute steps: daily cycle, noise, a spike and a level shift.
T0 = 1_700_000_000.0


def _series(n: int = 1440, seed: int = 7) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        base = 100.0 + 20.0 * math.sin(2 * math.pi * i / 1440.0)
        value = base + rng.gauss(0.0, 3.0)
        if i == 900:
            value += 80.0
        if i > 1100:
            value += 40.0
        out.append((T0 + 60.0 * i, value))
    return out


def _run_detector(model: Any, data: list[tuple[float, Any]]) -> list[AnomalyScore]:
    scores = []
    for t, v in data:
        x = {"value": v}
        scores.append(model.score_one(x, t))
        model.learn_one(x, t)
    return scores


def _check_score(s: AnomalyScore) -> None:
    assert isinstance(s, AnomalyScore)
    assert math.isfinite(s.score) and 0.0 <= s.score <= 1.0, s
    assert math.isfinite(s.confidence) and 0.0 <= s.confidence <= 1.0, s
    for share in s.drivers.values():
        assert math.isfinite(share) and share >= 0.0
    if s.expected is not None:
        assert math.isfinite(s.expected)


@pytest.fixture(params=sorted(DETECTORS), ids=str)
def detector_factory(request: pytest.FixtureRequest) -> Callable[[], Any]:
    return DETECTORS[request.param]


def test_follows_the_protocol(detector_factory: Callable[[], Any]) -> None:
    assert isinstance(detector_factory(), Detector)


def test_follows_rivers_anomaly_detector_conventions(detector_factory: Callable[[], Any]) -> None:
    """River's verbs alone (no time): ``score_one`` returns a float and learns nothing, then ``learn_one``."""
    model = detector_factory()
    assert isinstance(model, AnomalyDetector)
    scores = []
    for i, (_, v) in enumerate(_series(1000)):
        x: dict[Hashable, Any] = {"value": v}  # River's feature-dict type
        before = pickle.dumps(model) if i % 50 == 0 or i == 900 else None  # a sample: CAD pickles slowly
        score = model.score_one(x)
        assert before is None or pickle.dumps(model) == before, "score_one changed the state"
        assert isinstance(score, float) and math.isfinite(score) and 0.0 <= score <= 1.0
        assert model.score_one(x) == score  # scoring twice gives the same score
        model.learn_one(x)
        scores.append(float(score))
    normal = sorted(scores[300:880])
    assert scores[900] > normal[int(0.99 * len(normal))]  # River's number is the score we rank by


def test_scores_are_in_range_on_a_realistic_series(detector_factory: Callable[[], Any]) -> None:
    for s in _run_detector(detector_factory(), _series()):
        _check_score(s)


def test_pickle_round_trip_is_exact(detector_factory: Callable[[], Any]) -> None:
    data = _series()
    model = detector_factory()
    _run_detector(model, data[:700])
    restored = pickle.loads(pickle.dumps(model))
    assert _run_detector(restored, data[700:]) == _run_detector(model, data[700:])


def test_snapshot_restore_when_offered(detector_factory: Callable[[], Any]) -> None:
    model = detector_factory()
    if not hasattr(model, "snapshot"):
        pytest.skip("model has no snapshot()")
    data = _series()
    _run_detector(model, data[:500])
    restored = type(model).restore(model.snapshot())
    assert _run_detector(restored, data[500:]) == _run_detector(model, data[500:])


def test_is_deterministic(detector_factory: Callable[[], Any]) -> None:
    data = _series()
    assert _run_detector(detector_factory(), data) == _run_detector(detector_factory(), data)


def test_constant_input_gives_no_nan(detector_factory: Callable[[], Any]) -> None:
    scores = _run_detector(detector_factory(), [(T0 + i, 5.0) for i in range(500)])
    for s in scores:
        _check_score(s)
    # A constant series is the most normal thing there is: nothing should stand out.
    assert max(s.score for s in scores[100:]) < 0.5


@pytest.mark.parametrize("missing", [None, float("nan"), float("inf"), "", "n/a"])
def test_missing_values_are_skipped(detector_factory: Callable[[], Any], missing: Any) -> None:
    data: list[tuple[float, Any]] = list(_series(300))
    data[150] = (data[150][0], missing)
    model = detector_factory()
    scores = _run_detector(model, data)
    for s in scores:
        _check_score(s)
    _check_score(model.score_one({}, T0))  # no feature at all


def test_out_of_order_and_missing_timestamps(detector_factory: Callable[[], Any]) -> None:
    data = _series(300)
    shuffled = data[:100] + list(reversed(data[100:200])) + data[200:]
    model = detector_factory()
    for s in _run_detector(model, shuffled):
        _check_score(s)
    x = {"value": 100.0}
    _check_score(model.score_one(x, None))
    model.learn_one(x, None)


def test_the_fused_step_gives_the_two_verbs_numbers(detector_factory: Callable[[], Any]) -> None:
    """``score_learn`` (what the dataflow and ``bench nab`` call) equals ``score_one`` then ``learn_one``,
    score by score and state by state, through gaps, late and missing times, spikes and a level shift."""
    data: list[tuple[float | None, Any]] = list(_series(900))
    for i in range(0, 900, 97):
        data[i] = (data[i][0], None if i % 2 else float("nan"))
    data[300:320] = list(reversed(data[300:320]))
    data[500] = (None, 130.0)
    data[650] = (data[650][0], 1e9)
    fused, plain = detector_factory(), detector_factory()
    for t, v in data:
        x = {"value": v}
        got = score_learn(fused, x, t)
        expected = plain.score_one(x, t)
        plain.learn_one(x, t)
        assert got == expected
    assert pickle.dumps(fused) == pickle.dumps(plain)


@pytest.mark.parametrize("extreme", [1e300, -1e300, 1e-300, 0.0, -5.0])
def test_extreme_values_do_not_break_it(detector_factory: Callable[[], Any], extreme: float) -> None:
    data: list[tuple[float, Any]] = list(_series(400))
    data[200] = (data[200][0], extreme)
    model = detector_factory()
    for s in _run_detector(model, data):
        _check_score(s)


def test_state_per_series_is_bounded(detector_factory: Callable[[], Any]) -> None:
    model = detector_factory()
    _run_detector(model, _series(5000))
    size = len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    assert size <= STATE_BUDGET_BYTES, f"{size} bytes of state per series"


def test_a_large_spike_stands_out(detector_factory: Callable[[], Any]) -> None:
    """Behaviour, not just shape: the injected spike at row 900 scores above the normal rows."""
    scores = [s.score for s in _run_detector(detector_factory(), _series())]
    normal = sorted(scores[300:880])
    assert scores[900] > normal[int(0.99 * len(normal))]


# -- forecasters ----------------------------------------------------------------------------------


@pytest.fixture(params=sorted(FORECASTERS) or ["none"], ids=str)
def forecaster_factory(request: pytest.FixtureRequest) -> Callable[[], Any]:
    if request.param == "none":
        pytest.skip("no forecaster registered")
    return FORECASTERS[request.param]


def _leak(n: int = 600, seed: int = 3) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(T0 + 60.0 * i, 40.0 + 0.05 * i + rng.gauss(0.0, 0.5)) for i in range(n)]


def _feed(model: Any, data: list[tuple[float, Any]]) -> None:
    for t, y in data:
        model.learn_one(y, t)


def _check_forecast(f: Forecast) -> None:
    assert isinstance(f, Forecast)
    for v in (f.point, f.lower, f.upper, f.confidence, f.interval_level):
        assert math.isfinite(v)
    assert f.lower <= f.point <= f.upper
    assert 0.0 <= f.confidence <= 1.0
    if f.breach_probability is not None:
        assert 0.0 <= f.breach_probability <= 1.0
    tte = (f.time_to_exhaustion_lower, f.time_to_exhaustion_seconds, f.time_to_exhaustion_upper)
    if tte[1] is not None:
        assert tte[0] is not None and tte[2] is not None
        assert 0.0 <= tte[0] <= tte[1] <= tte[2]


def test_forecaster_follows_the_protocol(forecaster_factory: Callable[[], Any]) -> None:
    assert isinstance(forecaster_factory(), Forecaster)


def test_forecaster_pickle_round_trip_is_exact(forecaster_factory: Callable[[], Any]) -> None:
    data = _leak()
    model = forecaster_factory()
    _feed(model, data[:300])
    restored = pickle.loads(pickle.dumps(model))
    _feed(model, data[300:])
    _feed(restored, data[300:])
    assert model.forecast(3600.0, threshold=90.0) == restored.forecast(3600.0, threshold=90.0)


def test_forecaster_is_deterministic(forecaster_factory: Callable[[], Any]) -> None:
    a, b = forecaster_factory(), forecaster_factory()
    _feed(a, _leak())
    _feed(b, _leak())
    assert a.forecast(600.0, threshold=90.0) == b.forecast(600.0, threshold=90.0)


def test_forecaster_handles_hostile_input(forecaster_factory: Callable[[], Any]) -> None:
    model = forecaster_factory()
    _check_forecast(model.forecast(60.0, threshold=1.0))  # cold: no data at all
    hostile: list[tuple[float, Any]] = [(T0, 5.0)] * 50 + [
        (T0 + 10, None),
        (T0 + 20, float("nan")),
        (T0 + 5, 6.0),  # out of order
        (T0 + 30, 1e300),
        (T0 + 40, -1e300),
        (T0 + 50, 5.0),
    ]
    _feed(model, hostile)
    for h in (0.0, 60.0, 86_400.0):
        _check_forecast(model.forecast(h, threshold=10.0))
        _check_forecast(model.forecast(h))


def test_forecaster_constant_input(forecaster_factory: Callable[[], Any]) -> None:
    model = forecaster_factory()
    _feed(model, [(T0 + 60.0 * i, 7.0) for i in range(300)])
    f = model.forecast(3600.0, threshold=10.0)
    _check_forecast(f)
    assert f.time_to_exhaustion_seconds is None
    assert f.breach_probability is not None and f.breach_probability < 0.05


def test_forecaster_state_is_bounded(forecaster_factory: Callable[[], Any]) -> None:
    model = forecaster_factory()
    _feed(model, _leak(5000))
    assert len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)) <= STATE_BUDGET_BYTES


def test_forecaster_sees_a_leak_coming(forecaster_factory: Callable[[], Any]) -> None:
    """40 + 0.05/min crosses 90 after 1000 min; after 600 min it is ~400 min (24,000 s) away."""
    model = forecaster_factory()
    _feed(model, _leak())
    f = model.forecast(3600.0, threshold=90.0)
    _check_forecast(f)
    assert f.time_to_exhaustion_seconds is not None
    assert 18_000.0 < f.time_to_exhaustion_seconds < 30_000.0
    assert f.time_to_exhaustion_lower is not None and f.time_to_exhaustion_upper is not None
    assert f.time_to_exhaustion_lower <= 24_000.0 <= f.time_to_exhaustion_upper


# -- failure probability (delayed labels) -----------------------------------------------------------


@pytest.fixture(params=sorted(PROBABILITIES) or ["none"], ids=str)
def probability_factory(request: pytest.FixtureRequest) -> Callable[[], Any]:
    if request.param == "none":
        pytest.skip("no failure-probability model registered")
    return PROBABILITIES[request.param]


def _probes(n: int = 2000, seed: int = 5) -> list[tuple[float, dict[str, Any], bool]]:
    """Probes every 30 s: slow ones (latency_z ~ 3) fail often, normal ones rarely (shape, not skill)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        slow = rng.random() < 0.1
        out.append(
            (
                T0 + 30.0 * i,
                {"latency_z": (3.0 if slow else 0.0) + rng.gauss(0, 1)},
                rng.random() > (0.4 if slow else 0.02),
            )
        )
    return out


def _learn(model: Any, data: list[tuple[float, dict[str, Any], bool]]) -> list[float]:
    return [model.learn_one(x, ok, t) for t, x, ok in data]


def test_probability_round_trip_determinism_and_range(probability_factory: Callable[[], Any]) -> None:
    data = _probes()
    model = probability_factory()
    first = _learn(model, data[:1000])
    restored = type(model).restore(model.snapshot())
    assert _learn(restored, data[1000:]) == _learn(model, data[1000:])
    assert first == _learn(probability_factory(), data[:1000])
    for p in [*first, model.predict_proba({"latency_z": 3.0}), model.predict_proba({})]:
        assert math.isfinite(p) and 0.0 <= p <= 1.0
    # what it learns is checked in test_models_behaviour.py (degraded episodes, Brier, reliability)


def test_probability_survives_hostile_input_and_stays_small(probability_factory: Callable[[], Any]) -> None:
    model = probability_factory()
    hostile: list[tuple[float, dict[str, Any], bool]] = [
        (T0, {"latency_z": float("nan")}, True),
        (T0 + 1, {"latency_z": 1e308}, False),
        (T0 - 500, {"latency_z": -1e308}, True),  # out of order
        (T0 + 2, {}, False),
        (T0 + 3, {"other": "n/a", "x": None}, True),
        *[(T0 + 10 + i, {f"f{i}": 1.0}, i % 2 == 0) for i in range(100)],  # many feature names
    ]
    for p in _learn(model, hostile + _probes(5000)):
        assert math.isfinite(p) and 0.0 <= p <= 1.0
    assert len(model.snapshot()) <= STATE_BUDGET_BYTES
