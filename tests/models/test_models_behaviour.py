"""Behaviour of specific models beyond the generic contract: attribution, capacity planning, benches."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.dev.bench.exhaustion import format_table, run_benchmark
from forewarn.models.base import AnomalyScore
from forewarn.models.multivariate import ServiceDetector
from forewarn.models.trend import TrendForecaster

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
    for name in ("forewarn", "predict_linear"):  # the time to exhaustion shown, against the truth
        at = rules[name]["time_to_exhaustion_at"]
        assert set(at) == {"60", "30", "10"}
        assert all(0 < v["cases"] <= 4 and 0.0 <= v["within_1_5x"] <= 1.0 for v in at.values())
    assert "static" not in format_table(report).split("time to exhaustion")[1]
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


def _failing_endpoint(n: int, seed: int) -> list[tuple[float, dict[str, float], bool]]:
    """Probes every 60 s; when latency climbs (a degraded episode), failures follow within minutes."""
    rng = random.Random(seed)
    out = []
    degraded = 0
    for i in range(n):
        if degraded == 0 and rng.random() < 0.01:
            degraded = rng.randint(10, 30)
        latency_z = (3.0 if degraded else 0.0) + rng.gauss(0, 1)
        fail_p = 0.3 if degraded else 0.005
        ok = rng.random() >= fail_p
        degraded = max(0, degraded - 1)
        out.append((T0 + 60.0 * i, {"latency_z": latency_z}, ok))
    return out


def test_failure_probability_learns_from_delayed_labels_and_is_calibrated() -> None:
    from forewarn.models.failure import FailureProbability

    model = FailureProbability(horizon_seconds=300.0)
    for t, x, ok in _failing_endpoint(20_000, seed=2):
        model.learn_one(x, ok, t)
    brier, climatology = model.brier(), model.climatology_brier()
    assert brier is not None and climatology is not None
    assert brier < 0.9 * climatology  # it beats always predicting the base rate
    assert model.predict_proba({"latency_z": 3.0}) > 3 * model.predict_proba({"latency_z": 0.0})
    bins = model.reliability()
    assert sum(b.count for b in bins) == model.n_resolved
    for b in bins:
        if b.count >= 200:  # well-populated bins: predicted and observed agree within 0.1
            assert abs(b.mean_predicted - b.observed_rate) < 0.1, b
    assert len(model.pending) <= model.max_pending


def test_failure_probability_round_trips_and_survives_bad_input() -> None:
    import pickle

    from forewarn.models.failure import FailureProbability

    model = FailureProbability()
    data = _failing_endpoint(500, seed=4)
    for t, x, ok in data[:300]:
        model.learn_one(x, ok, t)
    restored = pickle.loads(pickle.dumps(model))
    for t, x, ok in data[300:]:
        assert model.learn_one(x, ok, t) == restored.learn_one(x, ok, t)
    for bad in ({"latency_z": float("nan")}, {"latency_z": 1e308}, {}, {"x": None}):
        p = model.learn_one(bad, False, T0)  # type: ignore[arg-type]
        assert 0.0 <= p <= 1.0
    assert len(pickle.dumps(model)) <= 20 * 1024


def test_likelihood_direction_ignores_the_harmless_side() -> None:
    from forewarn.models.likelihood import LikelihoodDetector

    def last_score(model: LikelihoodDetector, excursion: float) -> float:
        rng = random.Random(9)
        for i in range(1500):
            x = {"latency_ms": 100 + rng.gauss(0, 2)}
            model.score_one(x, T0 + 60 * i)
            model.learn_one(x, T0 + 60 * i)
        return model.score_one({"latency_ms": 100 + excursion}, T0 + 60 * 1500).score

    assert last_score(LikelihoodDetector(direction="up"), -60.0) == 0.0  # faster: fine
    assert last_score(LikelihoodDetector(direction="up"), +60.0) >= 0.5  # slower: alert
    assert last_score(LikelihoodDetector(), -60.0) >= 0.5  # both ways by default
    with pytest.raises(ValueError):
        LikelihoodDetector(direction="sideways")


def test_bench_nab_robustness_options_keep_rows_and_timestamps(tmp_path: Path) -> None:
    _synthetic_corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    args = ["bench", "nab", "--data", str(tmp_path / "corpus"), "--out", str(out)]
    args += ["--scorer", str(tmp_path / "none.py"), "--drop-fraction", "0.2", "--jitter-seconds", "30"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = (tmp_path / "corpus" / "data" / "synthetic" / "b.csv").read_text().splitlines()[1:]
    rows = (out / "synthetic" / "b.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == [d.split(",")[0] for d in data]  # scorer-ready
    assert json.loads((out / "bench_nab.json").read_text())["drop_fraction"] == 0.2


def test_nab_protocol_gives_priors_and_online_withholds_them(tmp_path: Path) -> None:
    """`--protocol nab` tells a detector the file's range and probation first; `online` does not."""
    from forewarn.dev.bench.nab import apply_file_priors, nab_probation_rows, run_file
    from forewarn.models.cad import ContextDetector

    data = tmp_path / "series.csv"
    rows = ["timestamp,value"] + [
        f"2024-01-01 00:{i // 60:02d}:{i % 60:02d},{(i % 7) + 10}" for i in range(1000)
    ]
    rows[500] = "2024-01-01 00:08:20,"  # an empty value: skipped, still a row
    data.write_text("\n".join(rows) + "\n")
    assert nab_probation_rows(1000) == 150 and nab_probation_rows(22_695) == 750

    told = ContextDetector()
    apply_file_priors(told, data)
    assert (told.lo, told.hi, told.rest_period, told.ready) == (10.0, 16.0, 30, True)

    seen: list[ContextDetector] = []

    def factory() -> ContextDetector:
        seen.append(ContextDetector())
        return seen[-1]

    run_file(factory, data, tmp_path / "out-nab.csv", priors=True)
    run_file(factory, data, tmp_path / "out-online.csv", priors=False)
    assert seen[0].value_range == (10.0, 16.0)
    assert seen[1].value_range is None and seen[1].lo < 10.0  # learned online, with headroom
    assert len((tmp_path / "out-online.csv").read_text().splitlines()) == 1001


def test_nab_protocol_priors_describe_the_perturbed_values_the_detector_sees(tmp_path: Path) -> None:
    """Under ``--protocol nab`` with ``--scale -1`` the range told is that of the values turned over."""
    from forewarn.dev.bench.nab import Perturbation, run_file
    from forewarn.models.cad import ContextDetector

    data = tmp_path / "series.csv"
    data.write_text(
        "timestamp,value\n" + "".join(f"2024-01-01 00:{i:02d}:00,{10 + i % 7}\n" for i in range(60))
    )
    seen: list[ContextDetector] = []

    def factory() -> ContextDetector:
        seen.append(ContextDetector())
        return seen[-1]

    run_file(factory, data, tmp_path / "plain.csv", priors=True)
    run_file(factory, data, tmp_path / "flipped.csv", Perturbation(scale=-1.0, offset=5.0), priors=True)
    run_file(factory, data, tmp_path / "spiked.csv", Perturbation(spike_spans=20.0), priors=True)
    assert seen[0].value_range == (10.0, 16.0)
    assert seen[1].value_range == (-11.0, -5.0)  # -1 * [10, 16] + 5
    assert seen[2].value_range == (10.0, 16.0 + 20 * 6.0)  # the spike is part of the series it sees


def test_bench_nab_scale_and_offset_reach_the_detector_only(tmp_path: Path) -> None:
    """``--scale``/``--offset``: the default detector is scale-free, so its scores do not move."""
    _synthetic_corpus(tmp_path / "corpus")
    runs: list[list[str]] = []
    for extra in ([], ["--scale", "1000", "--offset", "1000000"]):
        out = tmp_path / f"out{len(runs)}"
        args = ["bench", "nab", "--data", str(tmp_path / "corpus"), "--out", str(out), "--protocol", "online"]
        args += ["--scorer", str(tmp_path / "none.py"), *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        runs.append((out / "synthetic" / "b.csv").read_text().splitlines())
    clean, moved = runs
    assert [r.split(",")[:2] for r in clean] == [r.split(",")[:2] for r in moved]  # CSV keeps the data
    scores = [
        (float(a.split(",")[2]), float(b.split(",")[2])) for a, b in zip(clean[1:], moved[1:], strict=True)
    ]
    assert max(abs(a - b) for a, b in scores) < 1e-3
    assert max(a for a, _ in scores) >= 0.5  # the corpus does alert


def test_the_held_out_split_is_fixed_by_the_file_name_and_partitions_the_labels(tmp_path: Path) -> None:
    from forewarn.dev.bench.nab import is_held_out, write_split_labels

    keys = [f"cat{i % 3}/file_{i}.csv" for i in range(200)]
    held = [k for k in keys if is_held_out(k)]
    assert 0.2 < len(held) / len(keys) < 0.4  # about 30 %
    assert is_held_out("realKnownCause/nyc_taxi.csv") and is_held_out("other/nyc_taxi.csv")  # name only
    assert not is_held_out("realKnownCause/cpu_utilization_asg_misconfiguration.csv")
    labels = tmp_path / "windows.json"
    labels.write_text(json.dumps({k: [] for k in keys}))
    tuning, held_out = (json.loads(p.read_text()) for p in write_split_labels(labels, tmp_path / "split"))
    assert set(held_out) == set(held) and set(tuning) | set(held_out) == set(keys)
    assert not set(tuning) & set(held_out)


def test_bench_nab_gap_rows_hides_the_same_share_in_runs() -> None:
    """``--gap-rows``: hidden values come in runs (outages) and keep ``--drop-fraction`` as their share."""
    import itertools

    from forewarn.dev.bench.nab import Perturbation, _hidden_rows

    def hidden(gap_rows: int) -> list[bool]:
        perturb = Perturbation(drop_fraction=0.1, gap_rows=gap_rows)
        return list(itertools.islice(_hidden_rows(perturb, random.Random(3)), 200_000))

    def runs(flags: list[bool]) -> list[int]:
        return [len(list(group)) for key, group in itertools.groupby(flags) if key]

    single, blocks = hidden(1), hidden(60)
    assert abs(sum(single) / len(single) - 0.1) < 0.005 and abs(sum(blocks) / len(blocks) - 0.1) < 0.01
    assert sum(runs(single)) / len(runs(single)) < 1.2  # one by one (runs only by chance)
    assert 25 < sum(runs(blocks)) / len(runs(blocks)) < 36 and max(runs(blocks)) >= 60  # mean 30.5


class _Spy:
    """A detector that records the values it learns (module level: ``run_file`` pickles it)."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        return AnomalyScore(score=0.0, confidence=1.0)

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        self.seen.append(x["value"])


def test_bench_nab_spike_and_shift_reach_the_detector_outside_labelled_windows(tmp_path: Path) -> None:
    """``--spike-spans`` / ``--shift-spans``: one value far above the range, a level raised from a row
    on; both past any labelled window, seen by the detector only (the CSV keeps the file's values)."""
    from forewarn.dev.bench.nab import Perturbation, read_windows, run_file

    start = datetime(2024, 1, 1, tzinfo=UTC)
    data = tmp_path / "series.csv"
    stamps = [(start + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(100)]
    data.write_text("timestamp,value\n" + "".join(f"{s},{i % 10}\n" for i, s in enumerate(stamps)))
    labels = tmp_path / "windows.json"  # rows 5..12 are a window: the spike at 8 % moves to row 13
    labels.write_text(json.dumps({"k/series.csv": [[stamps[5] + ".000000", stamps[12] + ".000000"]]}))
    spy = _Spy()
    perturb = Perturbation(spike_spans=20.0, shift_spans=2.0, shift_at=0.5)
    out = tmp_path / "out.csv"
    run_file(lambda: spy, data, out, perturb, windows=read_windows(labels)["k/series.csv"])
    expected = [float(i % 10) + (18.0 if i >= 50 else 0.0) for i in range(100)]
    expected[13] = 9.0 + 20 * 9.0
    assert spy.seen == expected
    assert [r.split(",")[1] for r in out.read_text().splitlines()[1:]] == [str(i % 10) for i in range(100)]


def test_bench_robustness_scores_every_variant_with_the_clean_runs_thresholds(tmp_path: Path) -> None:
    """The suite runs clean first; each variant is scored with the thresholds the clean run optimised."""
    from forewarn.dev.bench.robustness import SUITE, format_table, run_suite, summarise
    from forewarn.models.likelihood import LikelihoodDetector

    _synthetic_corpus(tmp_path / "corpus")
    calls: list[tuple[str, Path | None]] = []

    def score(results: Path, thresholds: Path | None) -> dict[str, dict[str, object]]:
        calls.append((results.name, thresholds))
        # a stand-in for the NAB scorer: the variant's largest score, so a perturbation can move it
        top = max(
            float(line.rsplit(",", 1)[1])
            for line in (results / "synthetic" / "b.csv").read_text().splitlines()[1:]
        )
        return {"standard": {"normalized": 100 * top, "windows_detected": 1, "windows": 1, "fp_rows": 0}}

    report = run_suite(LikelihoodDetector, tmp_path / "corpus" / "data", tmp_path / "out", score)
    assert [name for name, _ in calls] == ["clean", *(v.name for v in SUITE)]
    assert calls[0][1] is None  # the clean run optimises
    assert all(t == tmp_path / "out" / "clean" / "nab_scores.json" for _, t in calls[1:])
    for variant in ("clean", *(v.name for v in SUITE)):
        assert len((tmp_path / "out" / variant / "synthetic" / "a.csv").read_text().splitlines()) == 401
    rows = report["variants"]
    assert isinstance(rows, list)
    scores = [r["scores"]["standard"]["normalized"] for r in rows]
    summary = summarise(report)
    assert summary["clean"] == scores[0] and summary["perturbed_worst"] == min(scores[1:])
    assert summary["perturbed_mean"] == pytest.approx(sum(scores[1:]) / len(SUITE))
    table = format_table(report)
    assert "shift-down" in table and "perturbed: mean" in table


def test_bench_robustness_command_without_a_scorer_writes_every_variant(tmp_path: Path) -> None:
    _synthetic_corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    args = ["bench", "robustness", "--data", str(tmp_path / "corpus"), "--out", str(out)]
    no_scorer = ["--scorer", str(tmp_path / "none.py"), "--detector", "likelihood"]
    result = CliRunner().invoke(app, [*args, *no_scorer])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "bench_robustness.json").read_text())
    names = [v["name"] for v in report["variants"]]
    assert names[:2] == ["clean", "gaps"] and len(names) == 11 and "tiny-unit" in names
    assert (out / "spike" / "synthetic" / "b.csv").is_file()
    bad = CliRunner().invoke(app, [*args, "--protocol", "sideways"])
    assert bad.exit_code == 2 and "--protocol" in bad.output
