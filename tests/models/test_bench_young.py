"""``forewarn bench nab --last-rows``: young series cut from a NAB-layout corpus, with their windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.dev.bench.young import cut_corpus

pytestmark = pytest.mark.unit

START = datetime(2024, 1, 1, tzinfo=UTC)


def _stamp(i: int) -> str:
    return (START + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S")


def _label(i: int) -> str:
    return _stamp(i) + ".000000"


def _corpus(root: Path, rows: int = 400) -> None:
    folder = root / "data" / "k"
    folder.mkdir(parents=True)
    lines = ["timestamp,value"] + [f"{_stamp(i)},{'' if i == 350 else f'{i % 7}.50'}" for i in range(rows)]
    (folder / "long.csv").write_text("\n".join(lines) + "\n")
    (folder / "short.csv").write_text("\n".join(lines[:101]) + "\n")  # 100 rows: kept whole
    (root / "labels").mkdir()
    windows = {
        "k/long.csv": [
            [_label(100), _label(120)],  # before the cut: gone
            [_label(190), _label(210)],  # straddles the cut, so reaches into its probation: dropped
            [_label(225), _label(240)],  # starts inside the cut file's probation (rows 200-229): dropped
            [_label(300), _label(320)],  # kept as it is
            [_label(390), _label(420)],  # runs past the end: clipped to the last row
        ],
        "k/short.csv": [[_label(40), _label(50)]],
    }
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))


def test_cut_keeps_the_last_rows_as_written_and_the_windows_nab_would_label(tmp_path: Path) -> None:
    _corpus(tmp_path / "nab")
    nab = tmp_path / "nab"
    data, labels = cut_corpus(nab / "data", nab / "labels" / "combined_windows.json", 200, tmp_path / "cut")
    source = (nab / "data" / "k" / "long.csv").read_text().splitlines()
    kept = (data / "k" / "long.csv").read_text().splitlines()
    assert kept == [source[0], *source[-200:]]  # header, then rows 200..399 text for text (the gap too)
    assert (data / "k" / "short.csv").read_text() == (nab / "data" / "k" / "short.csv").read_text()
    assert labels is not None
    windows = json.loads(labels.read_text())
    assert windows["k/long.csv"] == [[_label(300), _label(320)], [_label(390), _label(399)]]
    # 100 rows: probation is 15 rows (credited from 01:15), so the window from 03:20 stays
    assert windows["k/short.csv"] == [[_label(40), _label(50)]]


def test_cut_without_labels_writes_data_only(tmp_path: Path) -> None:
    _corpus(tmp_path / "nab")
    data, labels = cut_corpus(tmp_path / "nab" / "data", None, 50, tmp_path / "cut")
    assert labels is None and not (tmp_path / "cut" / "labels").exists()
    assert len((data / "k" / "long.csv").read_text().splitlines()) == 51
    with pytest.raises(ValueError, match="rows"):
        cut_corpus(tmp_path / "nab" / "data", None, 0, tmp_path / "cut0")


def test_bench_nab_last_rows_streams_only_the_young_series(tmp_path: Path) -> None:
    _corpus(tmp_path / "nab")
    out = tmp_path / "out"
    args = ["bench", "nab", "--data", str(tmp_path / "nab"), "--out", str(out), "--protocol", "online"]
    result = CliRunner().invoke(app, [*args, "--last-rows", "200", "--scorer", str(tmp_path / "none.py")])
    assert result.exit_code == 0, result.output
    rows = (out / "k" / "long.csv").read_text().splitlines()
    assert rows[0] == "timestamp,value,anomaly_score" and len(rows) == 201
    assert rows[1].startswith(_stamp(200) + ",")
    summary = json.loads((out / "bench_nab.json").read_text())
    assert summary["last_rows"] == 200 and summary["rows"] == 300  # 200 + the 100-row file
    cut_windows = json.loads((out / "_corpus" / "labels" / "combined_windows.json").read_text())
    assert cut_windows["k/long.csv"][0] == [_label(300), _label(320)]
