"""``forewarn bench nab --by-group``: each top-level folder of a corpus scored on its own."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.dev.bench.nab import write_group_labels

pytestmark = pytest.mark.unit

# A stand-in for NAB's scorer with its command line: the score is 10 per window of the labels it is
# given (NaN without one, as the real scorer gives), and it notes the thresholds it was handed.
FAKE_SCORER = textwrap.dedent(
    """
    import json, sys
    args = sys.argv[1:]
    labels = json.load(open(args[args.index("--labels") + 1]))
    fixed = args[args.index("--thresholds") + 1] if "--thresholds" in args else None
    n = sum(len(v) for v in labels.values())
    profile = {
        "normalized_score": 10.0 * n if n else float("nan"),
        "threshold": 0.5,
        "threshold_source": fixed or "optimized",
        "counts": {"windows_detected": n, "windows": n, "fp_rows": len(labels)},
    }
    names = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
    out = args[args.index("--out") + 1]
    json.dump({"profiles": {name: profile for name in names}}, open(out, "w"))
    """
)


def _corpus(root: Path) -> None:
    lines = ["timestamp,value"] + [f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00,{i % 5}" for i in range(200)]
    for key in ("cpu/a.csv", "cpu/b.csv", "latency/c.csv", "quiet/d.csv"):
        (root / "data" / key).parent.mkdir(parents=True, exist_ok=True)
        (root / "data" / key).write_text("\n".join(lines) + "\n")
    (root / "labels").mkdir()
    window = ["2024-01-01 02:00:00.000000", "2024-01-01 02:10:00.000000"]
    labels = {
        "cpu/a.csv": [window],
        "cpu/b.csv": [window, window],
        "latency/c.csv": [window],
        "quiet/d.csv": [],
    }
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels))


def test_group_labels_split_the_windows_by_top_level_folder(tmp_path: Path) -> None:
    _corpus(tmp_path / "c")
    paths = write_group_labels(
        tmp_path / "c" / "labels" / "combined_windows.json", tmp_path / "c" / "data", tmp_path
    )
    assert sorted(paths) == ["cpu", "latency", "quiet"]
    cpu = json.loads(paths["cpu"].read_text())
    assert sorted(cpu) == ["cpu/a.csv", "cpu/b.csv"] and len(cpu["cpu/b.csv"]) == 2
    assert json.loads(paths["quiet"].read_text()) == {"quiet/d.csv": []}


def test_bench_nab_by_group_scores_each_group_with_the_corpus_thresholds(tmp_path: Path) -> None:
    _corpus(tmp_path / "c")
    scorer = tmp_path / "scorer.py"
    scorer.write_text(FAKE_SCORER)
    out = tmp_path / "out"
    args = ["bench", "nab", "--data", str(tmp_path / "c"), "--out", str(out), "--scorer", str(scorer)]
    result = CliRunner().invoke(
        app, [*args, "--protocol", "online", "--detector", "likelihood", "--by-group"]
    )
    assert result.exit_code == 0, result.output
    groups = json.loads((out / "bench_nab.json").read_text())["scores_by_group"]
    assert {g: s["standard"]["normalized"] for g, s in groups.items()} == {
        "cpu": 30.0,
        "latency": 10.0,
        "quiet": None,  # no window to find: NaN from the scorer, null in the JSON, '-' in the table
    }
    assert {s["standard"]["threshold_source"] for s in groups.values()} == {str(out / "nab_scores.json")}
    table = result.output.split("\ngroup")[1]
    assert "cpu" in table and "quiet" in table and " -" in table
    plain = CliRunner().invoke(app, [*args, "--protocol", "online", "--detector", "likelihood"])
    assert plain.exit_code == 0 and "scores_by_group" not in json.loads((out / "bench_nab.json").read_text())
