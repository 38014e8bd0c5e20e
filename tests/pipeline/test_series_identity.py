"""Labels are part of a series' identity, and the number of series a process holds is bounded.

Through the production dataflow (TestingSource/TestingSink): two mountpoints' ``disk_usage`` from
one host must be forecast as two series (one filling, one flat), and a flood of label values past
``pipeline.max_series`` must be refused and counted, not modelled.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.testing import TestingSink, TestingSource
from prometheus_client import CollectorRegistry

from forewarn.events import ForecastEvent
from forewarn.pipeline.cardinality import SeriesBudget, series_name
from forewarn.pipeline.dataflow import FlowSinks, build_flow
from forewarn.settings import PipelineSettings, Settings

from .conftest import WALL, at, raw, run_one_worker

pytestmark = pytest.mark.unit

Messages = list[KafkaSinkMessage[bytes | None, bytes | None]]
METRICS = "forewarn.metrics"


def sample(
    seconds: float, value: float, labels: dict[str, str], offset: int, name: str = "disk_usage"
) -> Any:
    doc = {
        "schema_version": 1,
        "kind": "metric",
        "service": "web",
        "name": name,
        "value": value,
        "labels": labels,
        "timestamp": at(seconds).isoformat(),
    }
    return raw(json.dumps(doc).encode(), offset, topic=METRICS, key=b"web")


def run(messages: list[Any], settings: Settings) -> tuple[Messages, Messages, CollectorRegistry]:
    detections: Messages = []
    forecasts: Messages = []
    letters: Messages = []
    registry = CollectorRegistry()
    flow = build_flow(
        settings,
        TestingSource(messages),
        FlowSinks(TestingSink(detections), TestingSink(letters), TestingSink(forecasts)),
        registry=registry,
        clock=lambda: WALL,
    )
    run_one_worker(flow)
    assert letters == []
    return detections, forecasts, registry


def test_two_mountpoints_are_two_forecast_series() -> None:
    var, root = {"mountpoint": "/var"}, {"mountpoint": "/"}
    messages = []
    for i in range(600):  # 10 minutes, one reading per second per mountpoint
        messages.append(sample(i, 0.30 + 0.001 * i, var, 2 * i))  # fills: 0.30 -> 0.90
        messages.append(sample(i, 0.40, root, 2 * i + 1))  # flat
    _, forecasts, _ = run(messages, Settings())
    by_series: dict[str, list[ForecastEvent]] = {}
    for message in forecasts:
        event = ForecastEvent.model_validate_json(message.value or b"")
        by_series.setdefault(event.series, []).append(event)
    assert set(by_series) == {series_name("web", "disk_usage", var), series_name("web", "disk_usage", root)}
    filling = by_series['web/disk_usage{mountpoint="/var"}'][-1]
    flat = by_series['web/disk_usage{mountpoint="/"}'][-1]
    # One model per mountpoint: the filling one sees its own rise, the flat one is not dragged along.
    assert filling.time_to_exhaustion_seconds is not None
    assert flat.time_to_exhaustion_seconds is None or flat.time_to_exhaustion_seconds > 10 * 86400


def test_series_past_the_bound_are_dropped_and_counted() -> None:
    settings = Settings(pipeline=PipelineSettings(max_series=3))
    messages = [sample(0, 1.0, {"request_id": str(n)}, n, name="queue_depth") for n in range(10)]
    detections, _, registry = run(messages, settings)
    assert registry.get_sample_value("forewarn_pipeline_series_dropped_total") == 7.0
    assert registry.get_sample_value("forewarn_pipeline_active_series") == 3.0
    assert detections == []


def test_an_idle_series_gives_its_place_back() -> None:
    dropped: list[str] = []
    budget = SeriesBudget(limit=2, idle_seconds=3600.0, on_drop=dropped.append)
    assert budget.admit("a", 0.0) and budget.admit("b", 10.0)
    assert not budget.admit("c", 20.0)  # both held series are fresh
    assert budget.admit("a", 30.0)  # a known series is never refused
    assert budget.admit("c", 3611.0)  # b idle for over an hour: its place goes to c
    assert not budget.admit("b", 3612.0)  # a (seen at 30) is idle too, but b's place is gone
    assert dropped == ["c", "b"] and budget.dropped == 2
    assert len(budget) == 2


def test_unbounded_budget_admits_everything() -> None:
    budget = SeriesBudget(limit=None, idle_seconds=None)
    assert all(budget.admit(str(n), 0.0) for n in range(1000))
    assert len(budget) == 1000 and budget.dropped == 0
