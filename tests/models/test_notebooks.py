"""The notebooks run top to bottom (small data), so they cannot rot.

Why exec the code cells instead of a Jupyter kernel: the notebooks are plain Python in cells; running
them in one namespace in order is what "Run all" does, without adding a kernel stack to the test deps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_NOTEBOOK_SMALL", "1")
    cells = json.loads(path.read_text())["cells"]
    code = [("".join(c["source"]), i) for i, c in enumerate(cells) if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cells"
    namespace: dict[str, object] = {"__name__": "__main__"}
    for source, index in code:
        exec(compile(source, f"{path.name}[cell {index}]", "exec"), namespace)


def test_there_are_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"model_tuning.ipynb", "calibration.ipynb"}
