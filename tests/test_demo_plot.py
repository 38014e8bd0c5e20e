"""The demo's picture is drawn from its JSON summary (no live stack needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from forewarn.dev.demo.plot import plot_report
from forewarn.dev.demo.scoring import DemoReport, FaultOutcome

pytestmark = pytest.mark.unit


def test_plot_of_a_predicted_and_healed_leak(tmp_path: Path) -> None:
    t0 = 1_800_000_000.0
    report = DemoReport(started_at="2027-01-15T08:00:00+00:00", duration_seconds=120, started_at_epoch=t0)
    report.gauges = {
        "database/db_pool_usage": [[t0 + s, min(1.0, 0.15 + max(0, s - 30) * 0.01)] for s in range(0, 80)],
        "overall/disk_usage": [[t0 + s, 0.4] for s in range(0, 80)],
    }
    report.faults = [
        FaultOutcome(
            fault="db_pool_leak",
            description="leak",
            services=["database"],
            injected_at="2027-01-15T08:00:30+00:00",
            injected_at_epoch=t0 + 30,
            detected=True,
            predicted=True,
            predicted_after_seconds=12,
            predicted_time_to_exhaustion_seconds=70,
            healed=True,
            healing_action="recover-db-connections",
            healed_after_seconds=20,
        )
    ]
    report.detections = [
        {
            "service": "database",
            "detection_kind": "exhaustion_forecast",
            "detected_at": "2027-01-15T08:00:42+00:00",
        },
        {"service": "email", "detection_kind": "failure", "detected_at": "2027-01-15T08:00:20+00:00"},
    ]
    path = plot_report(report, tmp_path / "run.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000  # a real figure, not an empty canvas
