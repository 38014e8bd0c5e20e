"""Forecasts over the real broker: a leaking pool in the probes -> forecasts and an early detection.

``forewarn run`` runs in its own process (as an operator starts it); plain kafka-python clients
produce the probes and read the forecasts and detections topics.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from forewarn.events import Detection, ForecastEvent, ProbeResult
from forewarn.kafka.io import read_topic
from forewarn.pipeline.forecasting import ForecastEngine, gauge_observations
from forewarn.settings import Settings

from .kafka_process import plain_producer, start_dataflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def pool(seconds: int) -> float:
    """6/50 connections in use for 20 s, then 0.5 more per second: 1.0 at t=108."""
    in_use = 6 + (0 if seconds < 20 else int(0.5 * (seconds - 20)))
    return round(min(in_use, 50) / 50, 4)


def database_probe(when: datetime, usage: float) -> bytes:
    return json.dumps(
        {
            "schema_version": 1,
            "kind": "probe",
            "service": "database",
            "endpoint": "http://127.0.0.1:8080/api/health/database",
            "timestamp": when.isoformat(),
            "latency_ms": 20.0,
            "status_code": 200,
            "ok": True,
            "status": "ok",
            "details": {"db_pool_usage": usage, "db_pool_size": 50},
        }
    ).encode()


def expected_forecast_ids(values: list[bytes], settings: Settings) -> set[str]:
    engine = ForecastEngine(settings.forecast, settings.detector, clock=lambda: datetime.now(UTC))
    state: Any = None
    ids = set()
    for value in values:
        for obs in gauge_observations(ProbeResult.model_validate_json(value), settings.forecast):
            state = state or engine.new_state(obs)
            state, items = engine.step(state, obs)
            ids |= {i.id for i in items if isinstance(i, ForecastEvent)}
    return ids


def test_leaking_pool_is_forecast_and_detected_before_exhaustion(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=200)
    values = [database_probe(start + timedelta(seconds=i), pool(i)) for i in range(110)]
    full_at = start + timedelta(seconds=108)
    with start_dataflow(kafka_settings, tmp_path) as dataflow:
        producer = plain_producer(kafka_settings)
        for value in values:
            producer.send(kafka_settings.topics.probes, key=b"database", value=value)
        producer.flush()
        producer.close()
        deadline = time.monotonic() + 60
        while (
            dataflow.metric("forewarn_detections_total", {"kind": "exhaustion_forecast"}) < 1
            and time.monotonic() < deadline
        ):
            assert dataflow.proc.poll() is None, "\n".join(dataflow.lines[-30:])
            time.sleep(0.25)
        want = expected_forecast_ids(values, kafka_settings)
        records = read_topic(
            kafka_settings.kafka.bootstrap_servers,
            kafka_settings.topics.forecasts,
            timeout=60,
            max_messages=len(want),
        )
        detections = read_topic(
            kafka_settings.kafka.bootstrap_servers, kafka_settings.topics.detections, timeout=10
        )
    forecasts = [ForecastEvent.model_validate_json(r.value) for r in records]
    assert {f.id for f in forecasts} == want and len(forecasts) == len(want)
    assert all(r.key == b"database" for r in records)
    assert {f.series for f in forecasts} == {"database/db_pool_usage"}
    exhaustion = sorted(
        (
            d
            for r in detections
            if (d := Detection.model_validate_json(r.value)).detection_kind == "exhaustion_forecast"
        ),
        key=lambda d: d.timestamp,
    )
    assert exhaustion, "no exhaustion_forecast detection:\n" + "\n".join(dataflow.lines[-30:])
    first = exhaustion[0]
    assert first.service == "database" and first.series == "database/db_pool_usage"
    assert first.value < 1.0 and first.timestamp < full_at - timedelta(seconds=20)
    assert "forecast to reach 1.0 in" in first.reason
