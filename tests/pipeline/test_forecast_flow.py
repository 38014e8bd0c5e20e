"""Forecasts and exhaustion detections through the production dataflow (TestingSource/TestingSink)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource
from prometheus_client import CollectorRegistry

from forewarn.events import Detection, ForecastEvent, ProbeResult
from forewarn.pipeline.dataflow import FlowSinks, build_flow
from forewarn.pipeline.forecasting import ForecastEngine, gauge_observations
from forewarn.settings import Settings

from .conftest import WALL, at, probe_doc, raw, recovery_config, run_one_worker, run_two_workers

pytestmark = pytest.mark.unit

Runner = Callable[[Dataflow], None]
Messages = list[KafkaSinkMessage[bytes | None, bytes | None]]


def health(service: str, seconds: float, details: dict[str, Any], offset: int) -> Any:
    doc = probe_doc(service, seconds) | {"details": details}
    return raw(json.dumps(doc).encode(), offset, key=service.encode())


def pool(seconds: int) -> float:
    """A leak: 6/50 connections in use for 20 s, then 0.5 more per second (full at t=108)."""
    in_use = 6 + (0 if seconds < 20 else int(0.5 * (seconds - 20)))
    return round(min(in_use, 50) / 50, 4)


def leak_scenario(seconds: int = 110) -> list[Any]:
    """database and overall probed every second; overall repeats the pool and reports flat memory."""
    messages = []
    for i in range(seconds):
        messages.append(health("database", i, {"db_pool_usage": pool(i), "db_pool_size": 50}, 2 * i))
        overall = {"db_pool_usage": pool(i), "memory_usage": 0.25, "disk_usage": 0.4, "oom_killed": False}
        messages.append(health("overall", i, overall, 2 * i + 1))
    return messages


def run_flow(
    runner: Runner, messages: list[Any], registry: CollectorRegistry | None = None
) -> tuple[Messages, Messages]:
    detections: Messages = []
    forecasts: Messages = []
    letters: Messages = []
    flow = build_flow(
        Settings(),
        TestingSource(messages),
        FlowSinks(TestingSink(detections), TestingSink(letters), TestingSink(forecasts)),
        registry=registry,
        clock=lambda: WALL,
    )
    runner(flow)
    assert letters == []
    return detections, forecasts


def expected(messages: list[Any]) -> tuple[list[ForecastEvent], list[Detection]]:
    """The plain engine on the same probes (per series, in order): what the flow must reproduce."""
    settings = Settings()
    engine = ForecastEngine(settings.forecast, settings.detector, clock=lambda: WALL)
    states: dict[str, Any] = {}
    out_f: list[ForecastEvent] = []
    out_d: list[Detection] = []
    for message in messages:
        event = ProbeResult.model_validate_json(message.value)
        for obs in gauge_observations(event, settings.forecast):
            state = states.get(obs.series) or engine.new_state(obs)
            states[obs.series], items = engine.step(state, obs)
            out_f += [i for i in items if isinstance(i, ForecastEvent)]
            out_d += [i for i in items if isinstance(i, Detection)]
    return out_f, out_d


def parsed_forecasts(messages: Messages) -> list[ForecastEvent]:
    return sorted(
        (ForecastEvent.model_validate_json(m.value or b"") for m in messages), key=lambda f: (f.series, f.id)
    )


@pytest.mark.parametrize("runner", [run_one_worker, run_two_workers], ids=["1-worker", "2-workers"])
def test_flat_gauges_forecast_on_cadence_with_exact_ids(runner: Runner) -> None:
    messages = [
        health("overall", i, {"memory_usage": 0.25, "disk_usage": 0.4, "db_pool_usage": 0.1}, i)
        for i in range(30)
    ]
    registry = CollectorRegistry()
    detections, forecasts = run_flow(runner, messages, registry)
    got = sorted((m.key, ForecastEvent.model_validate_json(m.value or b"").id) for m in forecasts)
    # warm-up is 10 observations (first forecast at t=9), then one every 5 s of event time; the
    # pool's copy on overall is ignored (it belongs to database): 2 series x 5 forecasts
    want = sorted(
        (b"overall", ForecastEvent.make_id(f"overall/{gauge}", 900.0, at(t)))
        for gauge in ("memory_usage", "disk_usage")
        for t in (9, 14, 19, 24, 29)
    )
    assert got == want
    assert [m for m in detections if b"exhaustion" in (m.value or b"")] == []
    sample = registry.get_sample_value
    labels = {"service": "overall", "metric": "memory_usage"}
    assert sample("forewarn_forecasts_total", labels) == 5
    assert sample("forewarn_forecast_breach_probability", labels) == 0.0
    assert sample("forewarn_forecast_value", labels) == pytest.approx(0.25)
    assert sample("forewarn_forecast_time_to_exhaustion_seconds", labels) is None  # no crossing ahead
    assert sample("forewarn_forecasts_total", {"service": "overall", "metric": "db_pool_usage"}) is None


@pytest.mark.parametrize("runner", [run_one_worker, run_two_workers], ids=["1-worker", "2-workers"])
def test_pool_leak_forecasts_and_detection_before_exhaustion(runner: Runner) -> None:
    messages = leak_scenario()
    registry = CollectorRegistry()
    detections, forecasts = run_flow(runner, messages, registry)
    want_f, want_d = expected(messages)
    assert parsed_forecasts(forecasts) == sorted(want_f, key=lambda f: (f.series, f.id))
    exhaustion = sorted(
        (
            d
            for m in detections
            if (d := Detection.model_validate_json(m.value or b"")).detection_kind == "exhaustion_forecast"
        ),
        key=lambda d: d.timestamp,
    )
    assert exhaustion == sorted(want_d, key=lambda d: d.timestamp)
    assert all(m.key == b"database" for m in forecasts if b"db_pool_usage" in (m.value or b""))
    first = exhaustion[0]
    assert first.service == "database" and first.series == "database/db_pool_usage"
    assert first.timestamp < at(88)  # the gauge reaches 1.0 at t=108: 20+ s of warning at least
    assert first.value < 1.0
    assert {d.service for d in exhaustion} == {"database"}  # overall's copy never alerts
    # 110 s of leak at 1 s probes: entry and escalation, not one detection per probe
    assert len(exhaustion) <= 3
    labels = {"service": "database", "metric": "db_pool_usage"}
    assert registry.get_sample_value("forewarn_forecasts_total", labels) == len(
        [f for f in want_f if f.series == "database/db_pool_usage"]
    )
    assert registry.get_sample_value(
        "forewarn_detections_total", {"service": "database", "kind": "exhaustion_forecast"}
    ) == len(exhaustion)


def test_bad_gauge_values_are_skipped_not_fatal() -> None:
    messages = [health("database", i, {"db_pool_usage": "lots"}, i) for i in range(12)]
    messages += [health("database", 12 + i, {"db_pool_usage": 0.3}, 12 + i) for i in range(12)]
    detections, forecasts = run_flow(run_one_worker, messages)
    # the 12 numeric readings (t=12..23): warm-up ends at the 10th (t=21)
    assert [ForecastEvent.model_validate_json(m.value or b"").timestamp for m in forecasts] == [at(21)]
    assert detections == []


def test_recovery_resumes_forecaster_state_exactly(tmp_path: Path) -> None:
    baseline_d, baseline_f = run_flow(run_one_worker, leak_scenario())
    messages = leak_scenario()
    messages.insert(120, TestingSource.ABORT())  # t=60, mid-leak
    detections: Messages = []
    forecasts: Messages = []
    letters: Messages = []

    def flow() -> Dataflow:
        return build_flow(
            Settings(),
            TestingSource(messages),
            FlowSinks(TestingSink(detections), TestingSink(letters), TestingSink(forecasts)),
            clock=lambda: WALL,
        )

    recovery = recovery_config(tmp_path)
    run_one_worker(flow(), epoch_interval=timedelta(0), recovery_config=recovery)
    run_one_worker(flow(), epoch_interval=timedelta(0), recovery_config=recovery)
    assert {m.value for m in forecasts} == {m.value for m in baseline_f}
    assert {m.value for m in detections} == {m.value for m in baseline_d}
