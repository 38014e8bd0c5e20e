"""Absolute gauges: the capacity from a label or a paired metric, and "free" gauges forecast as used.

Why: exporters report bytes, not ratios. node-exporter sends ``node_filesystem_avail_bytes`` falling
beside a constant ``node_filesystem_size_bytes``; forewarn must forecast "full" in bytes from the pair,
and say so in the detection's figures and text.
"""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from forewarn.events import Detection, MetricSample, ProbeResult
from forewarn.pipeline.forecasting import ForecastEngine, ForecastState, GaugeObservation, gauge_observations
from forewarn.settings import DetectorSettings, ForecastSettings, GaugeCapacity
from tests.pipeline.engines import drive

from .conftest import WALL, at

pytestmark = pytest.mark.unit

GIB = 1024.0**3
DISK = {"device": "/dev/sda1", "mountpoint": "/var", "instance": "node-1:9100"}


def sample(name: str, value: float, seconds: float = 0.0, /, **labels: str) -> MetricSample:
    return MetricSample(service="node", name=name, value=value, timestamp=at(seconds), labels=labels)


def engine(settings: ForecastSettings | None = None) -> ForecastEngine:
    return ForecastEngine(settings or ForecastSettings(), DetectorSettings(), clock=lambda: WALL)


def run(eng: ForecastEngine, observations: list[GaugeObservation]) -> tuple[ForecastState, list[object]]:
    state, out = drive(eng, observations)
    return state, list(out)


def test_a_paired_metric_feeds_the_gauges_series_as_a_capacity_update() -> None:
    settings = ForecastSettings()  # node-exporter's pairs are the default
    [update] = gauge_observations(sample("node_filesystem_size_bytes", 10 * GIB, **DISK), settings)
    [reading] = gauge_observations(sample("node_filesystem_avail_bytes", 4 * GIB, **DISK), settings)
    assert update.capacity_update and update.value == 10 * GIB
    assert (
        update.series
        == reading.series
        == ('node/node_filesystem_avail_bytes{device="/dev/sda1",instance="node-1:9100",mountpoint="/var"}')
    )
    assert not reading.capacity_update and reading.capacity is None and reading.free
    # another mount is another series, with its own total
    other = gauge_observations(
        sample("node_filesystem_size_bytes", GIB, **{**DISK, "mountpoint": "/"}), settings
    )
    assert other[0].series != update.series


def test_a_capacity_label_gives_the_total_and_stays_out_of_the_series_identity() -> None:
    settings = ForecastSettings(capacities={"app_memory_bytes": GaugeCapacity(label="capacity")})
    [reading] = gauge_observations(
        sample("app_memory_bytes", 3 * GIB, capacity=str(4 * GIB), pod="a"), settings
    )
    assert reading.capacity == 4 * GIB and not reading.free
    assert reading.series == 'node/app_memory_bytes{pod="a"}'
    for bad in ("", "lots", "nan"):
        assert gauge_observations(sample("app_memory_bytes", 1.0, capacity=bad, pod="a"), settings) == []
    assert gauge_observations(sample("app_memory_bytes", 1.0, pod="a"), settings) == []


def test_a_probe_pairs_two_keys_of_its_details() -> None:
    settings = ForecastSettings(
        capacities={"heap_used_bytes": GaugeCapacity(metric="heap_max_bytes")}, owners={}
    )
    probe = ProbeResult.model_validate(
        {
            "service": "api",
            "timestamp": at(0),
            "endpoint": "http://x/healthz",
            "latency_ms": 5.0,
            "status_code": 200,
            "ok": True,
            "details": {"heap_used_bytes": 300.0, "heap_max_bytes": 1000.0},
        }
    )
    [reading] = gauge_observations(probe, settings)
    assert (reading.series, reading.value, reading.capacity) == ("api/heap_used_bytes", 300.0, 1000.0)


def _leak(seconds: int, total: float = 10 * GIB) -> list[GaugeObservation]:
    """Free space falling 50 MiB/s from 6 GiB: full 6 GiB / 50 MiB = ~123 s after it starts."""
    settings = ForecastSettings()
    out: list[GaugeObservation] = []
    for t in range(seconds):
        free = 6 * GIB - t * 50 * 1024**2 + (1 if t % 2 else -1) * 4 * 1024**2
        out += gauge_observations(sample("node_filesystem_size_bytes", total, t, **DISK), settings)
        out += gauge_observations(sample("node_filesystem_avail_bytes", free, t, **DISK), settings)
    return out


def test_falling_free_space_is_forecast_full_against_the_paired_total() -> None:
    state, out = run(engine(), _leak(60))
    assert state.capacity == 10 * GIB
    warnings = [d for d in out if isinstance(d, Detection)]
    assert warnings, "a steady fall of free space must be warned of"
    first = warnings[0]
    assert first.forecast is not None and first.forecast.capacity == 10 * GIB
    left = (6 * GIB - (first.timestamp - at(0)).total_seconds() * 50 * 1024**2) / (50 * 1024**2)
    tte = first.forecast.time_to_exhaustion_seconds
    assert tte is not None and 0.5 * left < tte < 2.0 * left, (tte, left)
    assert first.value > 4 * GIB  # used = total - free, not the free bytes
    assert "GiB used of 10 GiB" in first.reason and "forecast to be full in" in first.reason


def test_without_the_paired_total_nothing_is_forecast() -> None:
    only_free = [o for o in _leak(60) if not o.capacity_update]
    _, out = run(engine(), only_free)
    assert out == []


def test_the_paired_total_survives_a_snapshot() -> None:
    state, _ = run(engine(), _leak(5))
    restored = ForecastState.restore(pickle.loads(pickle.dumps(state.snapshot())))
    assert restored.capacity == 10 * GIB


def test_capacity_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="exactly one of label"):
        GaugeCapacity(label="capacity", metric="size")
    with pytest.raises(ValidationError, match="exactly one of label"):
        GaugeCapacity()
    with pytest.raises(ValidationError, match="in both gauges"):
        ForecastSettings(gauges={"x_bytes": 1.0}, capacities={"x_bytes": GaugeCapacity(label="cap")})
