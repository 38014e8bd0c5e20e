"""``forewarn bench pipeline`` at tiny sizes: every step runs against a real broker and reports.

Why no timing thresholds: speed depends on the machine; what a test can hold is that each figure
the issue asks for is there, finite and positive, that the 1- and 2-process runs wrote the same
detections, and that the state and series figures come from the series really held.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.dev.bench.pipeline import speedup_ceiling
from tests.conftest import KafkaBroker

pytestmark = pytest.mark.timeout(180)

REQUIRED = (
    "raw_events_per_second",
    "end_to_end_events_per_second",
    "ratio",
    "p50_latency_ms",
    "p99_latency_ms",
    "state_bytes_per_series",
    "speedup_2_processes",
    "end_to_end_2_processes_events_per_second",
    "publisher_messages_per_second",
    "shipper_lines_per_second",
    "kafka_python_send_per_second",
    "cpu_us_per_event_1_process",
    "cpu_us_per_event_2_processes",
    "dataflow_cores_1_process",
    "machine_busy_cores_1_process",
    "parse_only_events_per_second",
    "parse_only_ratio",
    "speedup_ceiling_2_processes",
)


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_bench_pipeline_tiny(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    out = tmp_path / "pipeline.json"
    args = ["bench", "pipeline", "--json", str(out), "--bootstrap", kafka_broker.bootstrap]
    args += ["--events", "2000", "--series", "50", "--series", "150", "--latency-rate", "500"]
    args += ["--series-min-events", "300"]
    args += ["--latency-seconds", "3", "--publisher-messages", "500", "--workdir", str(tmp_path / "work")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "forewarn bench pipeline" in result.output  # the table

    report = json.loads(out.read_text())
    for key in REQUIRED:
        assert _positive(report[key]), (key, report[key])
    assert len(report["load_average_before"]) == 3
    # Same input, same flow: 2 processes write the detections 1 process writes.
    assert report["detections_1_process"] > 0
    assert report["detections_2_processes"] == report["detections_1_process"]
    assert report["scale_out"] == "shards"  # the unsuffixed figures are the default's
    for mode in ("cluster", "shards"):  # both ways of scaling out write what 1 process writes
        assert report[f"detections_2_processes_{mode}"] == report["detections_1_process"]
        assert _positive(report[f"cpu_us_per_event_2_processes_{mode}"])  # the members' pids were read
        share = report[f"end_to_end_2_processes_events_per_second_{mode}"] / report["raw_events_per_second"]
        # the JSON rounds the rates to whole events/s (a tiny run reads ~2,000 events/s raw)
        assert report[f"ratio_2_processes_{mode}"] == pytest.approx(share, rel=0.01)
    rows = report["series_tested"]
    assert [row["series"] for row in rows] == [50, 150]
    for row in rows:
        assert row["active_series"] == row["series"]
        assert row["events"] == max(3 * row["series"], 300)
        assert _positive(row["events_per_second"]) and _positive(row["peak_rss_bytes"])
    assert report["latency_tries"][-1]["samples"] > 0


@pytest.mark.unit
@pytest.mark.parametrize(
    ("cpus", "busy", "processes", "ceiling"),
    [(2, 1.07, 2, 1.87), (16, 1.07, 2, 2.0), (2, 2.0, 2, 1.0), (4, 1.0, 8, 4.0), (2, 0.0, 2, 2.0)],
)
def test_speedup_ceiling_is_the_idle_share_of_the_machine(
    cpus: int, busy: float, processes: int, ceiling: float
) -> None:
    assert speedup_ceiling(cpus, busy, processes) == ceiling


@pytest.mark.unit
def test_bench_pipeline_stages_accounts_for_every_step(tmp_path: Path) -> None:
    """bench/pipeline_stages.py: every step timed, the shares add up to the flow's own work."""
    out = tmp_path / "stages.json"
    script = Path(__file__).resolve().parents[2] / "bench" / "pipeline_stages.py"
    args = [sys.executable, str(script), "--events", "1500", "--rounds", "1", "--json", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    steps = {row["step"]: row for row in report["steps"]}
    assert len(steps) == 8 and all(row["us_per_event"] >= 0 for row in steps.values())
    assert sum(row["share"] for row in steps.values()) == pytest.approx(1.0, abs=0.01)
    assert report["events"] == 1500 and report["detections"] >= 0
    for key in ("flow_us_per_event", "json_loads_us_per_event", "pydantic_us_per_event"):
        assert _positive(report[key]), key
    assert "log patterns" in done.stdout  # the table
