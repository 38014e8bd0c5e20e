"""Log template mining per service in the dataflow: exact detections, isolation, snapshots, recovery."""

from __future__ import annotations

import json
import pickle
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.dataflow import Dataflow
from bytewax.operators import StatefulLogic
from bytewax.testing import TestingSink, TestingSource
from prometheus_client import CollectorRegistry

from forewarn.events import MAX_DIGEST_TEMPLATES, Detection, LogRecord, LogTemplateDigest
from forewarn.incidents.log_patterns import LogPatternMiner
from forewarn.ingest import RawMessage
from forewarn.pipeline.dataflow import FlowSinks, build_flow
from forewarn.pipeline.forecast_steps import LogPatternLogic
from forewarn.pipeline.log_patterns import ServicePatterns, default_miner
from forewarn.pipeline.metrics import PipelineMetrics
from forewarn.pipeline.steps import DEFAULT_SERIES_IDLE
from forewarn.settings import Settings

from .conftest import WALL, at, recovery_config, run_one_worker, run_two_workers

pytestmark = pytest.mark.unit

LOGS = "forewarn.logs"
Messages = list[KafkaSinkMessage[bytes | None, bytes | None]]
PROVIDER_ERROR = "payment provider error: HTTP 502 Bad Gateway from api.stripe.com/v1/payment_intents"


def line(service: str, seconds: float, message: str, level: str = "INFO") -> dict[str, Any]:
    return {
        "kind": "log",
        "service": service,
        "level": level,
        "message": message,
        "timestamp": at(seconds).isoformat(),
    }


def scenario() -> list[dict[str, Any]]:
    """payments serves requests for 150 s (past the 120 s warm-up), then its provider starts failing.

    auth writes the provider error line during its own warm-up: known there, still new to payments.
    """
    docs = []
    for i in range(160):
        docs.append(line("payments", i, f"GET /api/bookings/{1000 + i} 200 in {20 + i % 7} ms"))
        if i >= 150:
            docs.append(line("payments", i, PROVIDER_ERROR, "ERROR"))
        if i < 20:
            docs.append(line("auth", i, f"login ok for user {i} in {30 + i} ms"))
        if i == 5:
            docs.append(line("auth", i, PROVIDER_ERROR, "ERROR"))
    return docs


def as_messages(docs: list[dict[str, Any]]) -> list[Any]:
    return [
        RawMessage(value=json.dumps(d).encode(), topic=LOGS, key=d["service"].encode(), partition=0, offset=n)
        for n, d in enumerate(docs)
    ]


def oracle(docs: list[dict[str, Any]]) -> list[Detection]:
    """F's miner used directly, one per service: what the flow must reproduce."""
    miners: dict[str, LogPatternMiner] = {}
    out = []
    for doc in docs:
        record = LogRecord.model_validate(doc)
        miner = miners.setdefault(record.service, LogPatternMiner(clock=lambda: WALL))
        out += miner.observe(record)
    return out


def run_flow(runner: Any, messages: list[Any], registry: CollectorRegistry | None = None) -> Messages:
    detections: Messages = []
    letters: Messages = []
    flow = build_flow(
        Settings(),
        TestingSource(messages),
        FlowSinks(TestingSink(detections), TestingSink(letters)),
        registry=registry,
        clock=lambda: WALL,
    )
    runner(flow)
    assert letters == []
    return detections


def parse(messages: Messages) -> list[Detection]:
    return [Detection.model_validate_json(m.value or b"") for m in messages]


def log_pattern_detections(messages: Messages) -> list[tuple[Any, ...]]:
    out = []
    for m in messages:
        d = Detection.model_validate_json(m.value or b"")
        if d.detector == "drain3":
            out.append((m.key, d.detection_kind, d.timestamp, d.severity.value, d.id))
    return sorted(out, key=lambda row: (row[2], row[1]))


@pytest.mark.parametrize("runner", [run_one_worker, run_two_workers], ids=["1-worker", "2-workers"])
def test_provider_errors_become_template_detections(runner: Any) -> None:
    docs = scenario()
    registry = CollectorRegistry()
    detections = run_flow(runner, as_messages(docs), registry)
    got = log_pattern_detections(detections)
    # by hand (F's defaults: 120 s warm-up, 30 s windows, >= 5 lines, z >= 4 over a zero baseline):
    # the error template is new to payments at t=150; t=152's request line is the window's 5th line
    # (min_lines), 2 of the 5 are errors: 40% >= 0 + 30% (warning; critical needs 50%);
    # at t=154 the template's 5th line in the window is 5 deviations above its baseline of 0.
    assert [(key, kind, ts, sev) for key, kind, ts, sev, _ in got] == [
        (b"payments", "new_log_template", at(150), "warning"),
        (b"payments", "log_error_ratio", at(152), "warning"),
        (b"payments", "log_rate_anomaly", at(154), "critical"),
    ]
    want = sorted(oracle(docs), key=lambda d: (d.timestamp, d.detection_kind))
    assert [row[4] for row in got] == [d.id for d in want]
    assert {d.id: d for d in parse(detections)}[want[0].id] == want[0]
    assert "payment provider error: HTTP <NUM> Bad Gateway" in want[0].reason
    sample = registry.get_sample_value
    assert sample("forewarn_detections_total", {"service": "payments", "kind": "new_log_template"}) == 1
    assert sample("forewarn_detections_total", {"service": "auth", "kind": "new_log_template"}) is None


def test_snapshot_restore_keeps_templates_and_windows() -> None:
    records = [LogRecord.model_validate(d) for d in scenario() if d["service"] == "payments"]
    unbroken = ServicePatterns(default_miner(lambda: WALL))
    want = [d for r in records for d in unbroken.observe(r)]

    first = ServicePatterns(default_miner(lambda: WALL))
    got = [d for r in records[:140] for d in first.observe(r)]
    blob = first.snapshot()
    assert len(blob) < 20_000
    later = WALL + timedelta(hours=1)
    resumed = ServicePatterns.restore(pickle.loads(pickle.dumps(blob)), lambda: later)
    got += [d for r in records[140:] for d in resumed.observe(r)]
    assert [d.id for d in got] == [d.id for d in want] and len(want) == 3
    assert got[-1].detected_at == later  # the re-injected clock, not the pickled one
    # the snapshot left the live miner's clock in place
    assert first.miner.clock() == WALL


def test_a_failing_miner_costs_a_line_not_the_flow() -> None:
    class Broken(LogPatternMiner):
        def observe(self, record: LogRecord) -> list[Detection]:
            raise RuntimeError("boom")

    patterns = ServicePatterns(Broken(clock=lambda: WALL))
    assert patterns.observe(LogRecord(service="auth", message="x", timestamp=at(0))) == []


def test_recovery_resumes_miner_state_exactly(tmp_path: Path) -> None:
    docs = scenario()
    baseline = run_flow(run_one_worker, as_messages(docs))
    messages: list[Any] = as_messages(docs)
    messages.insert(140, TestingSource.ABORT())
    detections: Messages = []
    letters: Messages = []

    def flow() -> Dataflow:
        return build_flow(
            Settings(),
            TestingSource(messages),
            FlowSinks(TestingSink(detections), TestingSink(letters)),
            clock=lambda: WALL,
        )

    recovery = recovery_config(tmp_path)
    run_one_worker(flow(), epoch_interval=timedelta(0), recovery_config=recovery)
    run_one_worker(flow(), epoch_interval=timedelta(0), recovery_config=recovery)
    assert log_pattern_detections(detections) == log_pattern_detections(baseline)
    assert len(log_pattern_detections(baseline)) == 3


def test_a_silent_service_miner_is_dropped_after_a_day() -> None:
    now = [WALL]
    logic = LogPatternLogic(default_miner, lambda: now[0], PipelineMetrics(CollectorRegistry()), None)
    logic.on_item([LogRecord(service="auth", message="login ok", timestamp=at(0))])
    now[0] = WALL + timedelta(seconds=5)  # the quiet service's pending digest goes out first
    (digest,), retained = logic.on_notify()
    assert isinstance(digest, LogTemplateDigest) and retained == StatefulLogic.RETAIN
    now[0] = WALL + timedelta(hours=23, minutes=59)
    assert logic.on_notify() == ([], StatefulLogic.RETAIN)
    now[0] = WALL + timedelta(hours=24)
    assert logic.on_notify() == ([], StatefulLogic.DISCARD)


def test_the_flow_publishes_per_service_template_digests() -> None:
    """Every line is counted once in its service's digests, in periods of 5 s of event time."""
    docs = scenario()
    digests_out: Messages = []
    flow = build_flow(
        Settings(),
        TestingSource(as_messages(docs)),
        FlowSinks(TestingSink([]), TestingSink([]), log_templates=TestingSink(digests_out)),
        clock=lambda: WALL,
    )
    run_one_worker(flow)
    digests = [LogTemplateDigest.model_validate_json(m.value or b"") for m in digests_out]
    assert {m.key for m in digests_out} == {b"payments", b"auth"}
    for service in ("payments", "auth"):
        mine = sorted((d for d in digests if d.service == service), key=lambda d: d.window_start)
        assert sum(d.lines for d in mine) == sum(1 for doc in docs if doc["service"] == service)
        assert all(d.window_end - d.window_start < timedelta(seconds=5) for d in mine)
        assert all(a.window_end < b.window_start for a, b in pairwise(mine))
    # payments' provider errors (t=150..159) are in the last two periods, with their first/last seen.
    errors = [t for d in digests for t in d.templates if t.levels.get("ERROR")]
    assert {t.service for t in errors} == {"payments", "auth"}
    payments = [t for t in errors if t.service == "payments"]
    assert sum(t.count for t in payments) == 10
    assert min(t.first_seen for t in payments) == at(150) and max(t.last_seen for t in payments) == at(159)
    assert all(t.template.startswith("payment provider error: HTTP <NUM> Bad Gateway") for t in payments)
    assert all(t.new for t in payments)  # new to payments (after its warm-up), unlike auth's
    assert not any(t.new for t in errors if t.service == "auth")


def test_a_digest_is_bounded_and_redacted() -> None:
    patterns = ServicePatterns(default_miner(lambda: WALL))
    secret = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    for i in range(30):  # 30 templates (drain3 tells lines of different lengths apart): only the top travel
        line = "retrying" + " step" * i
        patterns.observe(LogRecord(service="auth", message=line, timestamp=at(0), level="INFO"))
    for _ in range(3):
        patterns.observe(
            LogRecord(
                service="auth", message=f"login rejected token={secret}", timestamp=at(1), level="ERROR"
            )
        )
    assert patterns.pending_since() == at(0)
    (digest,) = patterns.digests()
    assert patterns.pending_since() is None and patterns.digests() == []
    assert digest.lines == 33 and len(digest.templates) == MAX_DIGEST_TEMPLATES
    top = digest.templates[0]
    assert top.levels == {"ERROR": 3} and top.count == 3  # the errors lead, whatever their count
    assert secret not in digest.to_json_bytes().decode() and "REDACTED" in top.template


def test_a_quiet_service_digest_goes_out_on_the_wall_clock() -> None:
    """A fault healed within seconds leaves a few error lines and then silence: they still go out."""
    now = [WALL]
    logic = LogPatternLogic(default_miner, lambda: now[0], PipelineMetrics(CollectorRegistry()), None)
    for i in range(3):
        out, _ = logic.on_item(
            [LogRecord(service="email", message="smtp failed", timestamp=at(i), level="ERROR")]
        )
        assert out == []  # no detection for 3 lines, and the period is still open
    assert logic.notify_at() == WALL + timedelta(seconds=5)
    now[0] = WALL + timedelta(seconds=5)
    (digest,), retained = logic.on_notify()
    assert isinstance(digest, LogTemplateDigest) and retained == StatefulLogic.RETAIN
    (template,) = digest.templates
    assert (template.count, template.first_seen, template.last_seen) == (3, at(0), at(2))
    assert logic.notify_at() == WALL + DEFAULT_SERIES_IDLE  # nothing pending: only the idle check
