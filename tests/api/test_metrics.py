"""The shared metric families: names, labels and the observe helpers, on isolated registries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from forewarn.events import ProbeResult
from forewarn.metrics import (
    api_metrics,
    engine_metrics,
    forecast_metrics,
    healing_metrics,
    llm_metrics,
    probe_metrics,
)

pytestmark = pytest.mark.unit


def test_probe_observe_sets_latency_up_and_outcome() -> None:
    registry = CollectorRegistry()
    probes = probe_metrics(registry)
    at = datetime(2026, 11, 20, tzinfo=UTC)
    probes.observe(
        ProbeResult(service="auth", endpoint="/h", timestamp=at, latency_ms=120.0, ok=True, status="ok")
    )
    probes.observe(ProbeResult(service="auth", endpoint="/h", timestamp=at, latency_ms=5000.0, ok=False))
    value = registry.get_sample_value
    assert value("forewarn_probe_up", {"service": "auth"}) == 0.0
    assert value("forewarn_probes_total", {"service": "auth", "status": "ok"}) == 1.0
    assert value("forewarn_probes_total", {"service": "auth", "status": "down"}) == 1.0
    assert value("forewarn_probe_latency_seconds_count", {"service": "auth"}) == 2.0
    assert value("forewarn_probe_latency_seconds_sum", {"service": "auth"}) == pytest.approx(5.12)
    assert value("forewarn_probe_latency_seconds_bucket", {"service": "auth", "le": "0.25"}) == 1.0


def test_forecast_without_crossing_drops_the_time_to_exhaustion_series() -> None:
    registry = CollectorRegistry()
    forecasts = forecast_metrics(registry)
    labels = {"service": "database", "metric": "db_pool_in_use"}
    forecasts.observe(
        "database", "db_pool_in_use", point=0.9, breach_probability=0.7, time_to_exhaustion_seconds=600
    )
    assert registry.get_sample_value("forewarn_forecast_time_to_exhaustion_seconds", labels) == 600.0
    forecasts.observe(
        "database", "db_pool_in_use", point=0.2, breach_probability=0.0, time_to_exhaustion_seconds=None
    )
    assert registry.get_sample_value("forewarn_forecast_time_to_exhaustion_seconds", labels) is None
    assert registry.get_sample_value("forewarn_forecast_breach_probability", labels) == 0.0
    assert registry.get_sample_value("forewarn_forecasts_total", labels) == 2.0


def test_every_family_registers_once_per_registry_with_conventional_names() -> None:
    registry = CollectorRegistry()
    now = [1000.0]
    probe_metrics(registry)
    forecast_metrics(registry)
    healing_metrics(registry)
    llm_metrics(registry)
    api_metrics(registry)
    engine = engine_metrics(registry, clock=lambda: now[0])
    engine.beat("probe")
    assert registry.get_sample_value("forewarn_heartbeat_timestamp_seconds", {"component": "probe"}) == 1000.0
    names = {metric.name for metric in registry.collect()}
    assert all(name.startswith("forewarn_") for name in names)
    counters = {m.name for m in registry.collect() if m.type == "counter"}
    assert "forewarn_heal_attempts" in counters and "forewarn_llm_cost_usd" in counters  # exposed with _total
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        probe_metrics(registry)
