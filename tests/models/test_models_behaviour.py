"""Behaviour of specific models beyond the generic contract: attribution, capacity planning, benches."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from forewarn.models.exhaustion_bench import format_table, run_benchmark
from forewarn.models.multivariate import ServiceDetector
from forewarn.models.trend import TrendForecaster
from typer.testing import CliRunner

from forewarn.cli import app

pytestmark = pytest.mark.unit
T0 = 1_700_000_000.0


def test_service_detector_says_which_signal_drove_the_score() -> None:
    rng = random.Random(5)
    model = ServiceDetector()
    for i in range(2000):
        x = {"latency_ms": 100 + rng.gauss(0, 5), "error_rate": 0.01 + abs(rng.gauss(0, 0.002))}
        model.score_one(x, T0 + 60 * i)
        model.learn_one(x, T0 + 60 * i)
    s = model.score_one({"latency_ms": 400.0, "error_rate": 0.011}, T0 + 60 * 2000)
    assert s.score > 0.5
    assert max(s.drivers, key=lambda k: s.drivers[k]) == "latency_ms"
    assert math.isclose(sum(s.drivers.values()), 1.0)


def test_service_detector_bounds_its_signals() -> None:
    model = ServiceDetector(max_signals=3)
    for i in range(10):
        model.learn_one({f"m{i}": 1.0}, T0 + i)
    assert len(model.signals) == 3 and model.dropped == 7


def test_capacity_planning_growth_rate_and_run_out_time() -> None:
    model = TrendForecaster(seasonal_bins=0)
    for i in range(600):  # +1 unit per hour, sampled every minute
        model.learn_one(10.0 + i / 60.0, T0 + 60.0 * i)
    assert model.growth_rate_per_day() == pytest.approx(24.0, rel=0.01)
    run_out = model.run_out_time(30.0)
    assert run_out is not None and run_out == pytest.approx(T0 + 20 * 3600.0, abs=120.0)
    assert TrendForecaster().run_out_time(1.0) is None


def test_exhaustion_benchmark_reports_every_rule() -> None:
    report = run_benchmark(seed=3, series_per_kind=1)
    rules = report["rules"]
    assert isinstance(rules, dict) and set(rules) == {"forewarn", "predict_linear", "static"}
    assert report["faults_breached"] == 4  # one of each fault kind breaches
    for r in rules.values():
        assert r["warned"] + r["missed"] == 4
        assert r["false_warnings_per_series_day"] >= 0.0
    assert "predict_linear" in format_table(report)


def _synthetic_corpus(root: Path) -> None:
    rng = random.Random(1)
    folder = root / "data" / "synthetic"
    folder.mkdir(parents=True)
    for name in ("a.csv", "b.csv"):
        lines = ["timestamp,value"]
        for i in range(400):
            value = "" if i == 50 else f"{10 + rng.gauss(0, 1) + (30 if i == 300 else 0):.3f}"
            lines.append(f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00,{value}")
        (folder / name).write_text("\n".join(lines) + "\n")


def test_bench_nab_command_writes_scorer_ready_csvs(tmp_path: Path) -> None:
    _synthetic_corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "nab",
            "--data",
            str(tmp_path / "corpus"),
            "--out",
            str(out),
            "--scorer",
            str(tmp_path / "none.py"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = (out / "synthetic" / "a.csv").read_text().splitlines()
    assert rows[0] == "timestamp,value,anomaly_score"
    assert len(rows) == 401
    assert rows[51].split(",")[1] == ""  # the gap is kept, row for row
    scores = [float(r.split(",")[2]) for r in rows[1:]]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[300] == max(scores[100:])  # the injected spike is the top score after warm-up
    summary = json.loads((out / "bench_nab.json").read_text())
    assert summary["rows"] == 800 and summary["state_bytes_per_series_max"] <= 20 * 1024


def test_bench_nab_command_fails_clearly_without_data(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "nab", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no NAB data" in result.output
