"""``forewarn bench``: the model benchmarks (NAB, exhaustion lead time) and the dataflow's speed.

Why a command and not only scripts: the figures in the README must be reproducible by anyone with one
command, on NAB or on another corpus in the same layout, with the same detector and thresholds.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from forewarn.settings import DetectorSettings, load_settings

if TYPE_CHECKING:
    from forewarn.dev.bench.nab import DetectorFactory

NAB_DIR_ENV = "FOREWARN_NAB_DIR"
NAB_SCORER_ENV = "FOREWARN_NAB_SCORER"
_REPO = Path(__file__).resolve().parents[2]
# --protocol nab without --detector: the contextual detector, the strongest with the NAB priors
NAB_PROTOCOL_DETECTOR = "cad"


def nab_detector(requested: str | None, protocol: str, settings: DetectorSettings) -> tuple[str, str]:
    """The detector ``bench nab`` runs, and why (printed, so a figure is never misattributed).

    Why the dataflow's model for ``--protocol online``: that protocol is the stream as the dataflow sees
    it, so its default figure should be the detector the dataflow runs (``detector.model``), and it
    follows when the setting changes. ``--protocol nab`` keeps its own default (CAD with the priors).
    """
    if requested is not None:
        return requested, "--detector"
    if protocol == "online":
        return settings.model, "the dataflow's detector.model"
    return NAB_PROTOCOL_DETECTOR, "the --protocol nab default"


def _default_nab_dir() -> Path:
    env = os.environ.get(NAB_DIR_ENV)
    return Path(env) if env else _REPO.parent / "shared" / "datasets" / "nab"


def _default_scorer(data: Path) -> Path:
    env = os.environ.get(NAB_SCORER_ENV)
    return Path(env) if env else data.parent.parent / "bench" / "nab_score.py"


# options `bench nab` and `bench robustness` share
DataOption = Annotated[
    Path | None,
    typer.Option(
        help=f"NAB-layout root (data/ and labels/); default ${NAB_DIR_ENV} or ../shared/datasets/nab"
    ),
]
ScorerOption = Annotated[
    Path | None, typer.Option(help=f"nab_score.py; default ${NAB_SCORER_ENV} or DATA/../../bench/")
]
LabelsOption = Annotated[
    Path | None, typer.Option(help="Windows JSON; default DATA/labels/combined_windows.json")
]


def _corpus_and_detector(
    data: Path | None, detector: str | None, protocol: str
) -> tuple[Path, Path, str, str, DetectorFactory]:
    """A NAB-layout corpus and the detector to run on it: (root, data dir, name, why, factory).

    Exits with status 2 and a message on a missing corpus, an unknown protocol or detector.
    """
    from forewarn.models import registry

    root = data or _default_nab_dir()
    data_dir = root / "data" if (root / "data").is_dir() else root
    if not data_dir.is_dir():
        typer.echo(f"error: no NAB data at {data_dir} (use --data or ${NAB_DIR_ENV})", err=True)
        raise typer.Exit(2)
    if protocol not in ("nab", "online"):
        typer.echo(f"error: --protocol must be nab or online, got {protocol!r}", err=True)
        raise typer.Exit(2)
    name, why = nab_detector(detector, protocol, load_settings().detector)
    factories = registry.detectors()
    if name not in factories:
        typer.echo(f"error: unknown detector {name!r}; known: {sorted(factories)}", err=True)
        raise typer.Exit(2)
    return root, data_dir, name, why, factories[name]


def register(app: typer.Typer) -> None:
    bench = typer.Typer(
        help="Benchmarks of the prediction models and the dataflow (results as JSON and a table)."
    )
    app.add_typer(bench, name="bench")

    @bench.command("nab")
    def nab(
        data: DataOption = None,
        out: Annotated[Path, typer.Option(help="Where result CSVs and JSON go.")] = Path("bench/results/nab"),
        detector: Annotated[
            str | None,
            typer.Option(
                help="Detector name from forewarn.models.registry; default with --protocol online: the "
                f"dataflow's (setting detector.model), with --protocol nab: {NAB_PROTOCOL_DETECTOR}."
            ),
        ] = None,
        protocol: Annotated[
            str,
            typer.Option(
                help="nab: each detector that takes them is told the file's value range and probationary "
                "length first, as the NAB protocol (and every published score) does; online: the stream only."
            ),
        ] = "nab",
        scorer: ScorerOption = None,
        labels: LabelsOption = None,
        thresholds: Annotated[
            Path | None,
            typer.Option(help="Apply these thresholds (a nab_scores JSON) instead of optimising."),
        ] = None,
        drop_fraction: Annotated[
            float, typer.Option(min=0.0, max=0.9, help="Robustness: hide this share of values (gaps).")
        ] = 0.0,
        gap_rows: Annotated[
            int,
            typer.Option(
                min=1, help="Robustness: --drop-fraction hides values in runs of 1..this rows (outages)."
            ),
        ] = 1,
        jitter_seconds: Annotated[
            float, typer.Option(min=0.0, help="Robustness: jitter the detector's timestamps by +-this.")
        ] = 0.0,
        scale: Annotated[
            float,
            typer.Option(help="Robustness: the detector sees scale * value + offset."),
        ] = 1.0,
        offset: Annotated[float, typer.Option(help="Robustness: added to every value after --scale.")] = 0.0,
        spike_spans: Annotated[
            float,
            typer.Option(
                help="Robustness: one value this many spans of the file's range above its maximum, "
                "at 8 % of each file (moved past labelled windows)."
            ),
        ] = 0.0,
        shift_spans: Annotated[
            float,
            typer.Option(
                help="Robustness: every value from 30 % of each file on (moved past labelled windows) "
                "raised by this many spans of the file's range."
            ),
        ] = 0.0,
        by_group: Annotated[
            bool,
            typer.Option(
                help="Also score each top-level folder of the corpus (NAB's categories) on its own, with "
                "the corpus' thresholds (or --thresholds).",
            ),
        ] = False,
        last_rows: Annotated[
            int,
            typer.Option(
                min=0,
                help="Young series: score each file's last N rows only (a cut corpus under OUT/_corpus; "
                "windows clipped, those reaching into the cut file's probation dropped). 0: whole files.",
            ),
        ] = 0,
    ) -> None:
        """Run a detector over every file (one parameter set, no labels), then score with the NAB scorer."""
        from forewarn.dev.bench.nab import FileResult, Perturbation, read_windows, run_corpus

        root, data_dir, name, why, factory = _corpus_and_detector(data, detector, protocol)
        typer.echo(f"detector: {name} ({why}) {factory()!r} (protocol {protocol})")

        def progress(i: int, n: int, r: FileResult) -> None:
            rate = r.rows / r.seconds if r.seconds else float("inf")
            typer.echo(f"[{i:>2}/{n}] {r.key:<60} {r.rows:>7} rows {rate:>9.0f} ev/s {r.state_bytes:>6} B")

        started = time.perf_counter()
        perturb = Perturbation(
            drop_fraction=drop_fraction,
            jitter_seconds=jitter_seconds,
            scale=scale,
            offset=offset,
            gap_rows=gap_rows,
            spike_spans=spike_spans,
            shift_spans=shift_spans,
        )
        labels_path = labels or root / "labels" / "combined_windows.json"
        if last_rows:
            from forewarn.dev.bench.young import cut_corpus

            data_dir, cut_labels = cut_corpus(
                data_dir, labels_path if labels_path.is_file() else None, last_rows, out / "_corpus"
            )
            labels_path = cut_labels or labels_path
        windows = read_windows(labels_path) if labels_path.is_file() else None
        results = run_corpus(factory, data_dir, out, progress, perturb, protocol == "nab", windows)
        rows = sum(r.rows for r in results)
        spent = sum(r.seconds for r in results)
        summary: dict[str, object] = {
            "detector": repr(factory()),
            "protocol": protocol,
            "drop_fraction": drop_fraction,
            "gap_rows": gap_rows,
            "jitter_seconds": jitter_seconds,
            "scale": scale,
            "offset": offset,
            "spike_spans": spike_spans,
            "shift_spans": shift_spans,
            "last_rows": last_rows,
            "files": len(results),
            "rows": rows,
            "detector_seconds": spent,
            "wall_seconds": time.perf_counter() - started,
            "events_per_second": rows / spent if spent else None,
            "state_bytes_per_series_max": max((r.state_bytes for r in results), default=0),
            "state_bytes_per_series_mean": (sum(r.state_bytes for r in results) / len(results))
            if results
            else 0,
        }
        scorer_path = scorer or _default_scorer(root)
        if scorer_path.is_file() and labels_path.is_file():
            from forewarn.dev.bench.nab import write_split_labels

            def score(labels_file: Path, name: str, fixed: Path | None) -> dict[str, dict[str, object]]:
                return _nab_score(scorer_path, out, labels_file, data_dir, out / name, fixed)

            summary["scores"] = score(labels_path, "nab_scores.json", thresholds)
            # The held-out split (a hash of each file name, dev/bench/nab.py): the tuning files with
            # their own optimal thresholds, the held-out files with the tuning files' thresholds.
            tuning_labels, held_out_labels = write_split_labels(labels_path, out / "split")
            summary["scores_tuning"] = score(tuning_labels, "nab_scores_tuning.json", thresholds)
            summary["scores_held_out"] = score(
                held_out_labels, "nab_scores_held_out.json", thresholds or out / "nab_scores_tuning.json"
            )
            if by_group:
                from forewarn.dev.bench.nab import write_group_labels

                fixed = thresholds or out / "nab_scores.json"
                summary["scores_by_group"] = {
                    group: score(path, f"nab_scores_group_{group}.json", fixed)
                    for group, path in write_group_labels(labels_path, data_dir, out / "split").items()
                }
        else:
            typer.echo(
                f"note: scorer {scorer_path} or labels {labels_path} not found; CSVs written, not scored"
            )
        (out / "bench_nab.json").write_text(json.dumps(summary, indent=2))
        _print_nab_table(summary)

    @bench.command("robustness")
    def robustness(
        data: DataOption = None,
        out: Annotated[Path, typer.Option(help="Result CSVs (one folder per variant) and JSON.")] = Path(
            "bench/results/robustness"
        ),
        detector: Annotated[
            str | None, typer.Option(help="Detector name; default the dataflow's (setting detector.model).")
        ] = None,
        protocol: Annotated[str, typer.Option(help="online (default) or nab, as in `bench nab`.")] = "online",
        scorer: ScorerOption = None,
        labels: LabelsOption = None,
    ) -> None:
        """One detector clean and under 9 perturbations (gaps, outages, units, a spike, level shifts)."""
        from forewarn.dev.bench.nab import read_windows
        from forewarn.dev.bench.robustness import SCORES_FILE, SUITE, format_table, run_suite, summarise

        root, data_dir, name, why, factory = _corpus_and_detector(data, detector, protocol)
        scorer_path = scorer or _default_scorer(root)
        labels_path = labels or root / "labels" / "combined_windows.json"
        scored = scorer_path.is_file() and labels_path.is_file()
        if not scored:
            typer.echo(f"note: scorer {scorer_path} or labels {labels_path} not found; CSVs only, not scored")

        def score(results: Path, thresholds: Path | None) -> dict[str, dict[str, object]]:
            return _nab_score(scorer_path, results, labels_path, data_dir, results / SCORES_FILE, thresholds)

        typer.echo(f"detector: {name} ({why}), protocol {protocol}; {len(SUITE) + 1} runs over {data_dir}")
        report = run_suite(
            factory,
            data_dir,
            out,
            score if scored else None,
            priors=protocol == "nab",
            windows=read_windows(labels_path) if labels_path.is_file() else None,
            progress=typer.echo,
        )
        report.update(detector=repr(factory()), protocol=protocol, summary=summarise(report))
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench_robustness.json").write_text(json.dumps(report, indent=2))
        typer.echo("")
        typer.echo(format_table(report))
        typer.echo(f"wrote {out / 'bench_robustness.json'}")

    @bench.command("exhaustion")
    def exhaustion(
        out: Annotated[Path, typer.Option(help="JSON output file.")] = Path("bench/results/exhaustion.json"),
        seed: Annotated[int, typer.Option(help="Seed of the synthetic traces.")] = 1,
        series_per_kind: Annotated[int, typer.Option(help="Traces per scenario kind.")] = 8,
    ) -> None:
        """Lead time of exhaustion warnings vs predict_linear and a static threshold, same traces."""
        from forewarn.dev.bench.exhaustion import format_table, run_benchmark

        report = run_benchmark(seed=seed, series_per_kind=series_per_kind)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        typer.echo(format_table(report))
        typer.echo(f"wrote {out}")

    @bench.command("pipeline")
    def pipeline(
        json_path: Annotated[Path, typer.Option("--json", help="JSON output file.")] = Path(
            "bench/results/pipeline.json"
        ),
        events: Annotated[
            int,
            typer.Option(min=100, help="Messages of the mixed workload (raw, end to end, 1 vs 2 processes)."),
        ] = 200_000,
        series: Annotated[
            list[int] | None,
            typer.Option(
                min=10, help="Series counts of the scaling runs (repeat the option); default 1k, 10k, 100k."
            ),
        ] = None,
        per_series: Annotated[int, typer.Option(min=1, help="Samples per series in the scaling runs.")] = 3,
        series_min_events: Annotated[
            int, typer.Option(min=1, help="Messages per scaling run at least (more samples per series).")
        ] = 30_000,
        latency_rate: Annotated[
            float,
            typer.Option(min=10.0, help="Events/s offered in the latency step (lowered if not sustained)."),
        ] = 10_000.0,
        latency_seconds: Annotated[
            float, typer.Option(min=1.0, help="Measured seconds of the latency step.")
        ] = 20.0,
        processes: Annotated[
            int, typer.Option(min=1, max=8, help="Processes compared with 1 (1: skip).")
        ] = 2,
        publisher_messages: Annotated[
            int, typer.Option(min=100, help="Messages in the publisher step.")
        ] = 30_000,
        bootstrap: Annotated[
            str | None, typer.Option(help="Use this broker; default: start a throwaway local one.")
        ] = None,
        workdir: Annotated[
            Path | None,
            typer.Option(file_okay=False, help="Keep the dataflow logs here (default: a temp dir)."),
        ] = None,
    ) -> None:
        """Raw Kafka read rate vs forewarn run end to end, latency, state per series, 1 vs 2 processes."""
        from rich.console import Console

        from forewarn.dev.bench.pipeline import PipelineBenchConfig, print_table, run_pipeline_bench

        config = PipelineBenchConfig(
            events=events,
            series=tuple(series) if series else PipelineBenchConfig.series,
            per_series=per_series,
            series_min_events=series_min_events,
            latency_rate=latency_rate,
            latency_seconds=latency_seconds,
            processes=processes,
            publisher_messages=publisher_messages,
            workdir=workdir,
        )
        console = Console()
        report = run_pipeline_bench(bootstrap, config, console)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        print_table(report, console)
        typer.echo(f"wrote {json_path}")


def _nab_score(
    scorer: Path, results: Path, labels: Path, data_dir: Path, out: Path, thresholds: Path | None
) -> dict[str, dict[str, object]]:
    """Run the NAB scorer on ``results`` for the files of ``labels``; the summary per profile."""
    cmd = [
        sys.executable,
        str(scorer),
        "score",
        str(results),
        "--labels",
        str(labels),
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--no-per-file",
    ]
    if thresholds is not None:
        cmd += ["--thresholds", str(thresholds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        typer.echo(proc.stdout + proc.stderr, err=True)
        raise typer.Exit(proc.returncode)
    scored = json.loads(out.read_text())
    return {
        name: {
            # NaN when the files scored have no window (a group of quiet series): JSON has no NaN
            "normalized": _finite(e["normalized_score"]),
            "threshold": e["threshold"],
            "threshold_source": e["threshold_source"],
            "windows_detected": e["counts"]["windows_detected"],
            "windows": e["counts"]["windows"],
            "fp_rows": e["counts"]["fp_rows"],
        }
        for name, e in scored["profiles"].items()
    }


def _finite(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _score_text(value: object) -> str:
    return f"{value:>8.2f}" if isinstance(value, float) else f"{'-':>8}"


def _print_nab_table(summary: dict[str, object]) -> None:
    typer.echo("")
    parts = (("all", "scores"), ("tuning", "scores_tuning"), ("held-out", "scores_held_out"))
    header = f"{'files':<10}{'profile':<22}{'score':>8}{'threshold':>12}{'windows':>10}{'FP rows':>9}"
    for label, key in parts:
        scores = summary.get(key)
        if not isinstance(scores, dict):
            continue
        if label == "all":
            typer.echo(header)
        for name, e in scores.items():
            thr = "none" if e["threshold"] is None else f"{e['threshold']:.4g}"
            typer.echo(
                f"{label:<10}{name:<22}{_score_text(e['normalized'])}{thr:>12}"
                f"{e['windows_detected']:>5}/{e['windows']:<4}{e['fp_rows']:>9}"
            )
    typer.echo("(held-out: the tuning files' thresholds, or --thresholds; split: dev/bench/nab.py)")
    groups = summary.get("scores_by_group")
    if isinstance(groups, dict) and groups:
        typer.echo(f"\n{'group':<26}{'standard':>9}{'low FP':>8}{'low FN':>8}{'windows':>10}{'FP rows':>9}")
        for group, scores in groups.items():
            std = scores["standard"]
            typer.echo(
                f"{group:<26} {_score_text(std['normalized'])}"
                f"{_score_text(scores['reward_low_FP_rate']['normalized'])}"
                f"{_score_text(scores['reward_low_FN_rate']['normalized'])}"
                f"{std['windows_detected']:>6}/{std['windows']:<3}{std['fp_rows']:>9}"
            )
        typer.echo("(each group with the corpus' thresholds, or --thresholds; '-': no window to find)")
    eps = summary.get("events_per_second")
    typer.echo(f"throughput: {eps:,.0f} events/s (score+learn, one core)" if isinstance(eps, float) else "")
    typer.echo(
        f"state per series: max {summary['state_bytes_per_series_max']} B, "
        f"mean {summary['state_bytes_per_series_mean']:.0f} B (pickle)"
    )
