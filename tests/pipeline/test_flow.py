"""The production dataflow with TestingSource/TestingSink: exact output on 1 and 2 workers."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource
from prometheus_client import CollectorRegistry

from forewarn.events import DeadLetter, Detection
from forewarn.models.base import AnomalyScore
from forewarn.pipeline.dataflow import FlowSinks, build_flow
from forewarn.settings import DetectorSettings, Settings

from .conftest import PROBES, WALL, at, probe_bytes, raw, recovery_config, run_one_worker, run_two_workers

pytestmark = pytest.mark.unit

Runner = Callable[[Dataflow], None]


one_worker = run_one_worker
two_workers = run_two_workers


def scenario() -> list[Any]:
    """auth goes down at t=20 (after 20 healthy probes); sms is healthy, then 900 ms at t=30..32.

    Interleaved with garbage, the same way a shared topic would carry it.
    """
    messages: list[Any] = []
    offset = 0
    for i in range(30):
        messages.append(raw(probe_bytes("auth", i, ok=i < 20, status_code=200 if i < 20 else 503), offset))
        messages.append(raw(probe_bytes("sms", i, latency_ms=100.0), offset + 1, key=b"sms"))
        offset += 2
        if i == 5:
            messages.append(raw(b"{oops", offset))
            offset += 1
        if i == 6:
            messages.append(b'{"kind": "probe"}')  # plain bytes, as a test source may hand over
    for i in range(30, 33):  # three slow probes in a row: the default persistence
        messages.append(raw(probe_bytes("sms", i, latency_ms=900.0), offset, key=b"sms"))
        offset += 1
    return messages


# The exact expected detections below are derived from the EW z-score by hand.
ZSCORE = Settings(detector=DetectorSettings(model="zscore"))


def run_flow(
    runner: Runner, messages: list[Any], registry: CollectorRegistry | None = None, **kwargs: Any
) -> tuple[
    list[KafkaSinkMessage[bytes | None, bytes | None]], list[KafkaSinkMessage[bytes | None, bytes | None]]
]:
    detections: list[KafkaSinkMessage[bytes | None, bytes | None]] = []
    letters: list[KafkaSinkMessage[bytes | None, bytes | None]] = []
    flow = build_flow(
        ZSCORE,
        TestingSource(messages),
        FlowSinks(TestingSink(detections), TestingSink(letters)),
        registry=registry,
        clock=lambda: WALL,
        **kwargs,
    )
    runner(flow)
    return detections, letters


def summary(messages: list[KafkaSinkMessage[bytes | None, bytes | None]]) -> list[tuple[Any, ...]]:
    out = []
    for m in messages:
        d = Detection.model_validate_json(m.value or b"")
        out.append((m.key, d.id, d.series, d.detection_kind, d.severity.value, d.timestamp, d.reason))
    return sorted(out)


EXPECTED = [
    (
        b"auth",
        Detection.make_id("auth/failure", "ew_failure_rate", "failure", at(21)),
        "auth/failure",
        "failure",
        "warning",
        at(21),
        "auth is failing: 2 consecutive failed probes, failure rate 51% >= 50% (last: HTTP 503, status down)",
    ),
    (
        b"auth",
        Detection.make_id("auth/failure", "ew_failure_rate", "failure", at(26)),
        "auth/failure",
        "failure",
        "critical",
        at(26),
        "auth is failing: 7 consecutive failed probes, failure rate 92% >= 50% (last: HTTP 503, status down)",
    ),
    (
        b"sms",
        Detection.make_id("sms/latency_ms", "ew_zscore", "latency_anomaly", at(32)),
        "sms/latency_ms",
        "latency_anomaly",
        "critical",
        at(32),
        # numbers derived by hand in test_detection.py::test_latency_alerts_on_the_third_slow_probe...
        "sms latency 900 ms is 130.4 sigma above its recent normal of 102 +/- 6 ms "
        "(alert at 4 sigma; 3 slow probes in a row)",
    ),
]


@pytest.mark.parametrize("runner", [one_worker, two_workers], ids=["1-worker", "2-workers"])
def test_exact_detections_and_dead_letters(runner: Runner) -> None:
    registry = CollectorRegistry()
    detections, letters = run_flow(runner, scenario(), registry)
    assert summary(detections) == sorted(EXPECTED)
    for m in detections:
        d = Detection.model_validate_json(m.value or b"")
        assert d.detected_at == WALL
        assert 0.0 <= d.score <= 1.0 and 0.0 < d.confidence <= 1.0

    parsed = sorted(
        (DeadLetter.model_validate_json(m.value or b"") for m in letters), key=lambda d: d.original_size
    )
    # keyed by their deterministic ids: the one with a position by it, the other by its content
    assert sorted(m.key or b"" for m in letters) == sorted(d.id.encode() for d in parsed)
    assert parsed[0].id == DeadLetter.make_id(
        {"source_topic": "forewarn.probes", "partition": 0, "offset": 12}
    )
    assert [(d.reason, base64.b64decode(d.original_b64), d.source_topic, d.offset) for d in parsed] == [
        (
            "bad JSON: Expecting property name enclosed in double quotes at line 1 column 2",
            b"{oops",
            "forewarn.probes",
            12,
        ),
        (
            "invalid probe: service: Field required; timestamp: Field required; endpoint: Field required; "
            "latency_ms: Field required; ok: Field required",
            b'{"kind": "probe"}',
            None,
            None,
        ),
    ]

    sample = registry.get_sample_value
    assert sample("forewarn_pipeline_events_total", {"topic": "forewarn.probes", "kind": "probe"}) == 63
    assert sample("forewarn_pipeline_events_total", {"topic": "unknown", "kind": "probe"}) is None
    assert sample("forewarn_pipeline_dead_letters_total", {"reason": "bad_json"}) == 1
    assert sample("forewarn_pipeline_dead_letters_total", {"reason": "invalid_fields"}) == 1
    assert sample("forewarn_detections_total", {"service": "auth", "kind": "failure"}) == 2
    assert sample("forewarn_detections_total", {"service": "sms", "kind": "latency_anomaly"}) == 1
    assert sample("forewarn_pipeline_event_lag_seconds_count") == 63
    # every event is between 29.5 and 30 minutes old at the fixed wall clock
    assert sample("forewarn_pipeline_event_lag_seconds_bucket", {"le": "900.0"}) == 0
    assert sample("forewarn_pipeline_event_lag_seconds_bucket", {"le": "3600.0"}) == 63
    assert sample("forewarn_pipeline_last_event_timestamp_seconds") == at(32).timestamp()
    assert sample("forewarn_pipeline_heartbeat_timestamp_seconds") == WALL.timestamp()
    assert sample("forewarn_pipeline_active_series") == 4  # auth and sms, latency and failure each


@pytest.mark.parametrize("runner", [one_worker, two_workers], ids=["1-worker", "2-workers"])
def test_only_garbage_never_stops_the_flow(runner: Runner) -> None:
    junk: list[Any] = [raw(bytes([i % 256]) * (i + 1), i) for i in range(300)] + [raw(b"", 300)]
    junk.append(raw(probe_bytes("auth", 0), 301))
    registry = CollectorRegistry()
    detections, letters = run_flow(runner, junk, registry)
    assert detections == []
    assert len(letters) == 301
    assert (
        registry.get_sample_value(
            "forewarn_pipeline_events_total", {"topic": "forewarn.probes", "kind": "probe"}
        )
        == 1
    )


def test_late_events_are_counted_not_learned() -> None:
    messages = [raw(probe_bytes("auth", i), i) for i in (0, 1, 2)] + [raw(probe_bytes("auth", 1), 3)]
    registry = CollectorRegistry()
    run_flow(one_worker, messages, registry)
    assert registry.get_sample_value("forewarn_pipeline_late_events_total", {"signal": "failure"}) == 1
    assert registry.get_sample_value("forewarn_pipeline_late_events_total", {"signal": "latency"}) == 1


def test_events_keyed_otherwise_than_by_service_are_counted_by_topic() -> None:
    """What shards (and in-order delivery) rely on is visible: a missing or foreign key is counted."""
    messages = [
        raw(probe_bytes("auth", 0), 0, key=b"auth"),
        raw(probe_bytes("auth", 1), 1),  # no key
        raw(probe_bytes("auth", 2), 2, key=b"sms"),
        raw(b"{oops", 3),  # a dead letter is not an event: not counted
    ]
    registry = CollectorRegistry()
    run_flow(one_worker, messages, registry)
    assert registry.get_sample_value("forewarn_pipeline_unkeyed_events_total", {"topic": PROBES}) == 2


def test_recovery_resumes_detector_state_exactly(tmp_path: Path) -> None:
    """Abort mid-outage, resume from the recovery store: same detections (by id) as an unbroken run.

    Discriminating: a fresh detector after the restart would re-enter the auth episode (a new
    "2 consecutive failures" detection) and would still be warming up when sms spikes (no detection).
    """
    baseline, _ = run_flow(one_worker, scenario())
    messages = scenario()
    messages.insert(50, TestingSource.ABORT())  # after auth's first detection (t=21), before t=24
    detections: list[KafkaSinkMessage[bytes | None, bytes | None]] = []
    letters: list[KafkaSinkMessage[bytes | None, bytes | None]] = []

    def flow() -> Dataflow:
        return build_flow(
            ZSCORE,
            TestingSource(messages),
            FlowSinks(TestingSink(detections), TestingSink(letters)),
            clock=lambda: WALL,
        )

    recovery = recovery_config(tmp_path)
    run_one_worker(flow(), epoch_interval=timedelta(0), recovery_config=recovery)
    assert summary(detections) == [EXPECTED[0]]
    run_one_worker(flow(), epoch_interval=timedelta(0), recovery_config=recovery)
    assert {m.value for m in detections} == {m.value for m in baseline}
    assert summary(baseline) == sorted(EXPECTED)
    assert len(letters) == 2


class AlwaysOdd:
    """A stand-in model (module level: Bytewax pickles detector state at every epoch)."""

    name = "always_odd"

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        return AnomalyScore(score=0.7, confidence=0.9, expected=1.0)

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        return None


def test_a_swapped_in_detector_factory_drives_the_flow() -> None:
    probes = [raw(probe_bytes("auth", i), i) for i in range(3)]  # latency alerts on the 3rd in a row
    detections, _ = run_flow(one_worker, probes, detector_factory=lambda obs: AlwaysOdd())
    got = sorted(Detection.model_validate_json(m.value or b"").series for m in detections)
    assert got == ["auth/failure", "auth/latency_ms"]


def test_the_context_detector_runs_in_the_flow_and_survives_a_restart(tmp_path: Path) -> None:
    """``detector.model = "cad"`` through Bytewax: its (packed) state is recovered, the jump found once."""
    import random

    rng = random.Random(3)
    messages: list[Any] = [
        raw(probe_bytes("sms", i, latency_ms=100.0 + rng.gauss(0.0, 5.0)), i, key=b"sms") for i in range(300)
    ]
    messages += [raw(probe_bytes("sms", 300 + i, latency_ms=900.0), 300 + i, key=b"sms") for i in range(5)]
    settings = Settings(detector=DetectorSettings(model="cad"))

    def flow(source: list[Any], detections: list[KafkaSinkMessage[bytes | None, bytes | None]]) -> Dataflow:
        sinks = FlowSinks(TestingSink(detections), TestingSink([]))
        return build_flow(settings, TestingSource(source), sinks, clock=lambda: WALL)

    baseline: list[KafkaSinkMessage[bytes | None, bytes | None]] = []
    run_one_worker(flow(messages, baseline))
    found = [Detection.model_validate_json(m.value or b"") for m in baseline]
    latency = [d for d in found if d.series == "sms/latency_ms"]
    assert [d.detector for d in latency] == ["ContextDetector"] and latency[0].timestamp == at(300)

    aborted = [*messages[:250], TestingSource.ABORT(), *messages[250:]]
    resumed: list[KafkaSinkMessage[bytes | None, bytes | None]] = []
    recovery = recovery_config(tmp_path)
    run_one_worker(flow(aborted, resumed), epoch_interval=timedelta(0), recovery_config=recovery)
    run_one_worker(flow(aborted, resumed), epoch_interval=timedelta(0), recovery_config=recovery)
    assert {m.value for m in resumed} == {m.value for m in baseline}
