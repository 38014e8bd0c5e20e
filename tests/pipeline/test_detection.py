"""Series extraction and the per-series detection step (no Bytewax involved)."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from forewarn.events import Detection, LogRecord, MetricSample, ProbeResult, Severity
from forewarn.models.base import AnomalyScore
from forewarn.pipeline.detection import DetectionEngine, SeriesState
from forewarn.pipeline.observations import Observation, observations_from
from forewarn.settings import DetectorSettings
from tests.pipeline.engines import drive

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WALL = datetime(2026, 3, 1, 13, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fail(i: float, failed: bool = True, service: str = "auth") -> Observation:
    return Observation(
        f"{service}/failure", service, "failure", "failure", 1.0 if failed else 0.0, at(i), "HTTP 503"
    )


def latency(i: float, value: float) -> Observation:
    return Observation("auth/latency_ms", "auth", "latency", "latency_ms", value, at(i), "HTTP 200")


def engine(**settings: float) -> DetectionEngine:
    # These tests derive the expected numbers from the EW z-score by hand.
    return DetectionEngine(DetectorSettings(model="zscore", **settings), clock=lambda: WALL)


def run(eng: DetectionEngine, observations: list[Observation]) -> list[Detection]:
    return drive(eng, observations)[1]


# --- series extraction -------------------------------------------------------------------------


def test_probe_yields_latency_and_failure_series() -> None:
    probe = ProbeResult(
        service="auth",
        endpoint="/h",
        timestamp=T0,
        latency_ms=42.0,
        status_code=503,
        ok=False,
        status="down",
        error="db unreachable",
    )
    lat, fail_obs = observations_from(probe)
    assert (lat.series, lat.signal, lat.value) == ("auth/latency_ms", "latency", 42.0)
    assert (fail_obs.series, fail_obs.signal, fail_obs.value) == ("auth/failure", "failure", 1.0)
    assert fail_obs.context == "HTTP 503, status down, db unreachable"
    assert lat.timestamp == fail_obs.timestamp == T0


def test_probe_context_does_not_repeat_what_the_error_says() -> None:
    probe = ProbeResult(
        service="email",
        endpoint="/h",
        timestamp=T0,
        latency_ms=3.0,
        status_code=503,
        ok=False,
        status="down",
        error="HTTP 503 (body status down; failing checks: sendgrid_send)",
    )
    assert observations_from(probe)[1].context == "HTTP 503 (body status down; failing checks: sendgrid_send)"


def test_probe_without_a_response_only_feeds_the_failure_series() -> None:
    probe = ProbeResult(
        service="sms", endpoint="/h", timestamp=T0, latency_ms=5000.0, ok=False, error="timeout"
    )
    (only,) = observations_from(probe)
    assert only.series == "sms/failure" and only.value == 1.0 and only.context == "timeout"


def test_metric_and_log_series() -> None:
    (metric,) = observations_from(
        MetricSample(service="database", name="db_pool_in_use", value=9, timestamp=T0)
    )
    assert (metric.series, metric.signal, metric.value) == ("database/db_pool_in_use", "metric", 9.0)
    (clash,) = observations_from(MetricSample(service="auth", name="latency_ms", value=1, timestamp=T0))
    assert clash.series == "auth/metric.latency_ms"  # never shares state with the probe series
    (err,) = observations_from(
        LogRecord(service="auth", level="ERROR", message="pool exhausted", timestamp=T0)
    )
    assert (err.series, err.value, err.context) == ("auth/log_errors", 1.0, "pool exhausted")
    (info,) = observations_from(LogRecord(service="auth", level="INFO", message="ok", timestamp=T0))
    assert (info.value, info.context) == (0.0, None)


# --- the detection step ------------------------------------------------------------------------


def test_failure_detection_on_second_failure_with_a_readable_reason() -> None:
    observations = [fail(i, failed=False) for i in range(10)] + [fail(10), fail(11)]
    (det,) = run(engine(), observations)
    assert det.id == Detection.make_id("auth/failure", "ew_failure_rate", "failure", at(11))
    assert det.series == "auth/failure" and det.service == "auth" and det.detection_kind == "failure"
    assert det.timestamp == at(11) and det.detected_at == WALL
    assert det.score == pytest.approx(0.51) and det.severity == Severity.WARNING
    assert det.expected == pytest.approx(0.3)
    assert (
        det.reason == "auth is failing: 2 consecutive failed probes, failure rate 51% >= 50% (last: HTTP 503)"
    )
    assert det.features["consecutive_failures"] == 2.0
    assert det.features["failure_rate"] == pytest.approx(0.51)


def test_a_long_outage_is_rate_limited_entry_escalation_and_realert() -> None:
    observations = [fail(i, failed=False) for i in range(5)] + [fail(5 + i) for i in range(600)]
    detections = run(engine(realert_seconds=300), observations)
    assert [(d.timestamp, d.severity) for d in detections] == [
        (at(6), Severity.WARNING),  # entry: 2nd failure
        (at(11), Severity.CRITICAL),  # escalation: rate 1 - 0.7**7 > 0.9
        (at(311), Severity.CRITICAL),  # reminder after 300 s of event time
    ]


def test_realert_zero_emits_every_anomalous_event() -> None:
    observations = [fail(i) for i in range(5)]
    assert len(run(engine(realert_seconds=0), observations)) == 4


def test_recovery_ends_the_episode_and_a_new_outage_alerts_again() -> None:
    seq = [fail(0), fail(1)] + [fail(2 + i, failed=False) for i in range(5)] + [fail(7), fail(8)]
    detections = run(engine(), seq)
    assert [d.timestamp for d in detections] == [at(1), at(8)]


def test_hysteresis_keeps_a_hovering_series_in_one_episode() -> None:
    class Scripted:
        name = "scripted"

        def __init__(self) -> None:
            self.scores = iter([0.6, 0.45, 0.55, 0.45, 0.3, 0.6])

        def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
            return AnomalyScore(score=next(self.scores), confidence=1.0)

        def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
            return None

    eng = DetectionEngine(DetectorSettings(persistence=1), clock=lambda: WALL, factory=lambda obs: Scripted())
    detections = run(eng, [latency(i, 100.0) for i in range(6)])
    # 0.45 stays in the episode (> 0.4 clear level); 0.3 clears it; the next 0.6 is a new entry
    assert [d.timestamp for d in detections] == [at(0), at(5)]
    assert detections[0].reason == "auth latency_ms = 100 scored 0.60 by scripted (last: HTTP 200)"


def test_latency_spike_reason_names_the_numbers() -> None:
    observations = [latency(i, 100.0) for i in range(12)] + [latency(12, 900.0)]
    (det,) = run(engine(warmup=10, z_threshold=4.0, persistence=1), observations)
    assert det.detection_kind == "latency_anomaly" and det.detector == "ew_zscore"
    assert det.score == pytest.approx(1600 / 1601) and det.severity == Severity.CRITICAL
    assert det.expected == pytest.approx(100.0)
    assert det.reason == (
        "auth latency 900 ms is 160.0 sigma above its recent normal of 100 +/- 5 ms (alert at 4 sigma)"
    )
    assert det.features["z"] == pytest.approx(160.0)
    assert det.value == 900.0


def test_latency_needs_persistence_one_slow_probe_is_not_an_incident() -> None:
    single = (
        [latency(i, 100.0) for i in range(30)]
        + [latency(30, 900.0)]
        + [latency(31 + i, 100.0) for i in range(5)]
    )
    assert run(engine(), single) == []
    two = [latency(i, 100.0) for i in range(30)] + [
        latency(30, 900.0),
        latency(31, 900.0),
        latency(32, 100.0),
    ]
    assert run(engine(), two) == []


def test_latency_alerts_on_the_third_slow_probe_with_hand_derived_numbers() -> None:
    """30 x 100 ms (mean 100, variance 0, floor std 5), then 900 ms three times.

    1st: learned clipped to 100 + 4*5 = 120 -> mean 101, var 0.95*(20*1) = 19, std max(4.36, 5.05) = 5.05.
    2nd: clipped to 101 + 4*5.05 = 121.2 -> mean 102.01, var 0.95*(19 + 20.2*1.01) = 37.43, std 6.118.
    3rd: z = (900 - 102.01) / 6.118 = 130.4, the one reported.
    """
    observations = [latency(i, 100.0) for i in range(30)] + [latency(30 + i, 900.0) for i in range(3)]
    (det,) = run(engine(), observations)
    assert det.timestamp == at(32)
    assert det.reason == (
        "auth latency 900 ms is 130.4 sigma above its recent normal of 102 +/- 6 ms "
        "(alert at 4 sigma; 3 slow probes in a row)"
    )
    assert det.features["anomalous_in_a_row"] == 3.0
    assert det.expected == pytest.approx(102.01)
    assert det.features["ew_std"] == pytest.approx(37.4319**0.5)


def test_late_observations_are_ignored() -> None:
    eng = engine()
    state = eng.new_state(fail(10))
    state, _ = eng.step(state, fail(10, failed=False))
    assert eng.is_late(state, fail(9))
    before = pickle.dumps(state.detector)
    state, detections = eng.step(state, fail(9))
    assert detections == [] and pickle.dumps(state.detector) == before
    assert not eng.is_late(state, fail(10))  # equal time (e.g. two log lines in one ms) is fine


def test_snapshot_restores_exactly_and_continues_identically() -> None:
    eng = engine()
    head = [fail(i, failed=i % 4 == 0) for i in range(20)]
    tail = [fail(20 + i) for i in range(10)]
    state = eng.new_state(head[0])
    for obs in head:
        state, _ = eng.step(state, obs)
    snap = state.snapshot()
    assert len(pickle.dumps(snap)) < 1000
    restored = SeriesState.restore(pickle.loads(pickle.dumps(snap)))
    original_out, restored_out = [], []
    for obs in tail:
        state, a = eng.step(state, obs)
        restored, b = eng.step(restored, obs)
        original_out.extend(a)
        restored_out.extend(b)
    assert original_out == restored_out and original_out
    # the snapshot taken earlier is unaffected by later learning (immutable)
    assert SeriesState.restore(snap).alert.last_timestamp == at(19)


def test_metric_anomaly_both_directions() -> None:
    obs = [Observation("db/pool", "db", "metric", "pool", 10.0 + (i % 2), at(i)) for i in range(20)]
    obs.append(Observation("db/pool", "db", "metric", "pool", 0.0, at(20)))
    assert run(engine(), obs) == []  # one outlier: below the default persistence of 3
    (det,) = run(engine(persistence=1), obs)
    assert det.detection_kind == "metric_anomaly"
    assert det.reason.startswith("db pool = 0 is -") and "sigma from its recent normal of 10.5" in det.reason


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (None, "LikelihoodContextDetector"),
        ("likelihood", "LikelihoodDetector"),
        ("likelihood_record", "RecordLikelihoodDetector"),
    ],
)
def test_default_likelihood_model_flags_a_latency_jump_once_and_not_the_noise(
    model: str | None, name: str
) -> None:
    """The default model (likelihood + contextual), likelihood alone, + record rule: quiet on noise,
    one detection for a jump."""
    import random

    rng = random.Random(7)
    noise = [latency(i, 100.0 + rng.gauss(0, 8)) for i in range(300)]
    jump = [latency(300 + i, 900.0 + rng.gauss(0, 8)) for i in range(20)]
    settings = DetectorSettings() if model is None else DetectorSettings(model=model)
    eng = DetectionEngine(settings, clock=lambda: WALL)
    assert eng.settings.model == (model or "likelihood_cad")
    assert run(eng, noise) == []
    detections = run(eng, noise + jump)
    assert len(detections) == 1
    (det,) = detections
    assert det.series == "auth/latency_ms" and det.detector == name
    assert 300 <= (det.timestamp - T0).total_seconds() <= 305


def test_cad_model_flags_a_latency_jump_and_names_the_context_detector() -> None:
    """``detector.model = "cad"``: the context detector's 0.75 reads as the dataflow's 0.5."""
    import random

    rng = random.Random(7)
    noise = [latency(i, 100.0 + rng.gauss(0, 8)) for i in range(400)]
    jump = [latency(400 + i, 900.0 + rng.gauss(0, 8)) for i in range(20)]
    eng = DetectionEngine(DetectorSettings(model="cad"), clock=lambda: WALL)
    quiet = run(eng, noise)
    detections = run(eng, noise + jump)
    # at most one: a 2.5-sigma value landing in a bin the young series never visited is novel to CAD
    # (0 for this seed; 1 for two seeds in six)
    assert len(quiet) <= 1
    jumped = [d for d in detections if (d.timestamp - T0).total_seconds() >= 400]
    assert len(jumped) == 1
    (det,) = jumped
    assert det.detector == "ContextDetector" and det.score >= 0.5
    assert det.reason.startswith("auth latency_ms = 9")
    assert "outside the range it has learned" in det.reason and "by ContextDetector" in det.reason
    assert det.features["beyond_range"] == 1.0 and det.features["novelty"] >= 0.75
    assert (det.timestamp - T0).total_seconds() <= 402


def test_context_detector_reasons_name_the_rule() -> None:
    from forewarn.models.base import AnomalyScore
    from forewarn.pipeline.detection import explain

    obs = latency(0, 140.0)
    score = AnomalyScore(score=0.8, confidence=1.0)
    base = {"novelty": 0.9, "contexts": 812.0, "range_low": 40.0, "range_high": 180.0}
    sequence = explain(obs, score, {**base, "beyond_range": 0.0, "new_record": 0.0}, "ContextDetector")
    assert sequence == (
        "auth latency_ms = 140: a sequence of values its 812 learned contexts did not predict "
        "(novelty 0.90, by ContextDetector) (last: HTTP 200)"
    )
    record = explain(obs, score, {**base, "beyond_range": 0.0, "new_record": 1.0}, "ContextDetector")
    assert "a new record, past every value seen" in record
    both = explain(obs, score, {**base, "beyond_range": 1.0, "new_record": 1.0}, "ContextDetector")
    assert "outside the range it has learned (40 to 180)" in both and "new record" not in both
