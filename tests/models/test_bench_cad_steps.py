"""``bench/cad_steps.py`` on a small corpus in NAB's layout: every step counted, the shares add up."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "cad_steps.py"


def _write_corpus(root: Path, rows: int) -> None:
    """One file: a daily-ish cycle with a level shift and a spike, five-minute steps."""
    folder = root / "data" / "synthetic"
    folder.mkdir(parents=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lines = ["timestamp,value"]
    for i in range(rows):
        value = (
            50 + 20 * math.sin(2 * math.pi * i / 96) + (30 if i > rows // 2 else 0) + (90 if i == 300 else 0)
        )
        lines.append(f"{(start + timedelta(minutes=5 * i)):%Y-%m-%d %H:%M:%S},{value:.3f}")
    (folder / "series.csv").write_text("\n".join(lines) + "\n")


def test_cad_steps_counts_every_step_and_the_shares_add_up(tmp_path: Path) -> None:
    _write_corpus(tmp_path, 600)
    out = tmp_path / "steps.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(tmp_path), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["files"] == 1 and report["events"] == 600
    paths = report["paths"]
    # the first 100 values only warm the range up; then each later value is one step (plus replays)
    assert sum(row["steps"] for row in paths) >= 500
    assert all(row["steps"] > 0 and row["plan_us"] > 0 and row["commit_us"] > 0 for row in paths)
    assert 0 < sum(row["share_of_time"] for row in paths) < 1  # the wrapper's own work is the rest
    assert "new zero-level context" in done.stdout  # the table


def test_cad_steps_says_where_the_data_is_missing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "no NAB data" in done.stderr
