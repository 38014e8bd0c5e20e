"""The daily load cycle: latencies and the pool baseline follow a compressed day, and nothing else moves."""

from __future__ import annotations

import pytest

from .conftest import AppFactory, ManualClock

pytestmark = pytest.mark.unit


def _latency(make_app: AppFactory, clock: ManualClock, at: float, **overrides: object) -> tuple[float, int]:
    client, _ = make_app(**overrides)
    clock.advance(at)
    body = client.get("/api/health/payments").json()
    pool = client.get("/api/health/database").json()["details"]["db_pool_in_use"]
    return float(body["latency_ms"]), int(pool)


def test_peak_is_slower_and_busier_than_night(make_app: AppFactory, clock: ManualClock) -> None:
    night, night_pool = _latency(make_app, clock, 0.0, load_cycle_seconds=100.0, load_cycle_peak=1.0)
    peak, peak_pool = _latency(make_app, clock, 50.0, load_cycle_seconds=100.0, load_cycle_peak=1.0)
    assert peak == pytest.approx(2 * night)  # noise is off in these tests: base x (1 + peak)
    assert peak_pool == night_pool + 4


def test_cycle_comes_back_to_night_after_one_period(make_app: AppFactory, clock: ManualClock) -> None:
    client, _ = make_app(load_cycle_seconds=60.0, load_cycle_peak=0.5)
    first = client.get("/api/health/email").json()["latency_ms"]
    clock.advance(60.0)
    assert client.get("/api/health/email").json()["latency_ms"] == pytest.approx(first)


def test_no_cycle_means_flat_latency(make_app: AppFactory, clock: ManualClock) -> None:
    client, _ = make_app()
    first = client.get("/api/health/sms").json()["latency_ms"]
    clock.advance(12_345.0)
    assert client.get("/api/health/sms").json()["latency_ms"] == first
