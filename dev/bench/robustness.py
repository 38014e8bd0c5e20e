"""One detector over one corpus, clean and under each perturbation, with the clean run's thresholds.

Why a suite: the issue counts robustness to gaps, level shifts and very different scales as much as
the headline score, and a change that wins the headline by losing a perturbation is no win. Running
every perturbation by hand was how two faults (a gauge turned over, one absurd value) went unseen for
sessions. The thresholds stay those the clean run optimised, as they would on data no one tuned on.

Each entry is one ``Perturbation`` of ``dev/bench/nab.py``; the suite only chooses them and tabulates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from forewarn.dev.bench.nab import DetectorFactory, FileResult, Perturbation, Windows, run_corpus


@dataclass(frozen=True, slots=True)
class Variant:
    """A named perturbation of the suite, with what it stands for in production."""

    name: str
    means: str
    perturb: Perturbation


SUITE: tuple[Variant, ...] = (
    Variant(
        "gaps",
        "5 % of values missing, timestamps +-120 s",
        Perturbation(drop_fraction=0.05, jitter_seconds=120.0),
    ),
    Variant("outages", "10 % missing in runs of 1-60 rows", Perturbation(drop_fraction=0.1, gap_rows=60)),
    Variant("half-missing", "half of the values missing", Perturbation(drop_fraction=0.5)),
    Variant("turned-over", "every value x -1 (free instead of used)", Perturbation(scale=-1.0)),
    Variant("far-level", "every value + 1e9 (an epoch, a byte counter)", Perturbation(offset=1e9)),
    Variant("unit", "x 1,000 + 1e6 (another unit and level)", Perturbation(scale=1000.0, offset=1e6)),
    Variant("tiny-unit", "x 1e-12 (a ratio in tiny units)", Perturbation(scale=1e-12)),
    Variant("spike", "one value 20 ranges above the maximum", Perturbation(spike_spans=20.0)),
    Variant("shift-up", "the level + 2 ranges from 30 % on", Perturbation(shift_spans=2.0)),
    Variant("shift-down", "the level - 2 ranges from 30 % on", Perturbation(shift_spans=-2.0)),
)

# (results dir, fixed thresholds or None to optimise) -> the scorer's summary per profile. It must also
# write that summary to ``<results dir>/nab_scores.json``: the clean run's file is the later runs' thresholds.
Scorer = Callable[[Path, Path | None], dict[str, dict[str, object]]]
SCORES_FILE = "nab_scores.json"


def run_suite(
    factory: DetectorFactory,
    data_dir: Path,
    out_dir: Path,
    score: Scorer | None,
    priors: bool = False,
    windows: dict[str, Windows] | None = None,
    variants: tuple[Variant, ...] = SUITE,
    progress: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """Run clean, then each variant into ``out_dir/<name>``; score each with the clean thresholds.

    ``score`` None: the CSVs are written, nothing is scored (no scorer at hand).
    """
    rows: list[dict[str, object]] = []
    thresholds: Path | None = None
    for variant in (Variant("clean", "the corpus as it is", Perturbation()), *variants):
        results: list[FileResult] = run_corpus(
            factory, data_dir, out_dir / variant.name, None, variant.perturb, priors, windows
        )
        row: dict[str, object] = {
            "name": variant.name,
            "means": variant.means,
            "rows": sum(r.rows for r in results),
        }
        if score is not None:
            row["scores"] = score(out_dir / variant.name, thresholds)
            if thresholds is None:
                thresholds = out_dir / variant.name / SCORES_FILE
        rows.append(row)
        if progress is not None:
            progress(_line(row))
    return {"variants": rows, "thresholds": str(thresholds) if thresholds else None}


def standard(row: dict[str, object]) -> float | None:
    """A variant's standard-profile score, None when it was not scored."""
    scores = row.get("scores")
    if not isinstance(scores, dict):
        return None
    value = scores.get("standard", {}).get("normalized")
    return float(value) if isinstance(value, int | float) else None


def summarise(report: dict[str, object]) -> dict[str, float | None]:
    """Clean, the mean and the worst of the perturbed scores (standard profile)."""
    rows = report["variants"]
    assert isinstance(rows, list)
    clean = standard(rows[0])
    perturbed = [s for s in (standard(r) for r in rows[1:]) if s is not None]
    return {
        "clean": clean,
        "perturbed_mean": sum(perturbed) / len(perturbed) if perturbed else None,
        "perturbed_worst": min(perturbed) if perturbed else None,
    }


def format_table(report: dict[str, object]) -> str:
    """The suite as a table: each variant's standard / low-FP / low-FN score and its change from clean."""
    rows = report["variants"]
    assert isinstance(rows, list)
    head = f"{'variant':<14}{'standard':>9}{'change':>8}{'low FP':>8}{'low FN':>8}{'windows':>10}{'FP':>6}"
    lines = [head + "  means"]
    lines += [_line(row, standard(rows[0])) for row in rows]
    summary = summarise(report)
    if summary["perturbed_mean"] is not None:
        lines.append(
            f"perturbed: mean {summary['perturbed_mean']:.2f}, worst {summary['perturbed_worst']:.2f} "
            f"(clean {summary['clean']:.2f}; each with the clean run's thresholds)"
        )
    return "\n".join(lines)


def _line(row: dict[str, object], clean: float | None = None) -> str:
    scores = row.get("scores")
    if not isinstance(scores, dict):
        return f"{row['name']!s:<14}{'-':>9}{'':>8}{'':>8}{'':>8}{'':>10}{'':>6}  {row['means']}"
    std, fp, fn = (scores.get(p, {}) for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"))
    value = standard(row)
    change = (
        f"{value - clean:+.2f}" if value is not None and clean is not None and row["name"] != "clean" else ""
    )
    windows = f"{std.get('windows_detected')}/{std.get('windows')}"
    return (
        f"{row['name']!s:<14}{std.get('normalized', 0.0):>9.2f}{change:>8}{fp.get('normalized', 0.0):>8.2f}"
        f"{fn.get('normalized', 0.0):>8.2f}{windows:>10}{std.get('fp_rows')!s:>6}  {row['means']}"
    )
