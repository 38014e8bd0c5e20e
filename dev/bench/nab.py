"""Run a detector over a NAB-layout corpus and write result CSVs the NAB scorer accepts.

Why here (and not in bench/): ``forewarn bench nab`` must work from an installed wheel, so the corpus
runner ships with the models; ``bench/`` holds the thin scripts and the recorded results.

Layout: ``DATA/<category>/<file>.csv`` with columns ``timestamp,value``; results go to
``OUT/<category>/<file>.csv`` with ``timestamp,value,anomaly_score`` in the data file's row order.
Each file is streamed through a fresh detector, score-then-learn, exactly as the dataflow would.
"""

from __future__ import annotations

import csv
import hashlib
import json
import pickle
import random
import time
import zlib
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from forewarn.models.base import Detector, UsesPriors, as_finite, score_learn

DetectorFactory = Callable[[], Detector]


@dataclass(frozen=True, slots=True)
class FileResult:
    """What one data file cost: rows, seconds spent in the detector, final state size."""

    key: str
    rows: int
    seconds: float
    state_bytes: int


@dataclass(frozen=True, slots=True)
class Perturbation:
    """Robustness check: hide a share of values and jitter the timestamps the detector sees.

    The CSV keeps every row and its original timestamp (the scorer needs them); only the detector's
    input changes, seeded per file so runs repeat exactly.
    """

    drop_fraction: float = 0.0
    jitter_seconds: float = 0.0
    seed: int = 0
    # hidden values come in runs of 1..gap_rows rows (an outage of a scrape target), not one by one
    gap_rows: int = 1
    # every value the detector sees becomes ``scale * value + offset`` (a scale-free detector scores
    # the same; the CSV keeps the original values)
    scale: float = 1.0
    offset: float = 0.0
    # one value ``spike_spans`` spans of the file's range above its maximum, at ``spike_at`` of the
    # file (a scrape of a broken exporter, a counter wrap); and every value from ``shift_at`` on
    # raised by ``shift_spans`` spans (a deploy that moved the level). Each moves past any labelled
    # window, so it is a false alarm at most and the score measures what the detector sees after it.
    spike_spans: float = 0.0
    spike_at: float = 0.08
    shift_spans: float = 0.0
    shift_at: float = 0.3

    def active(self) -> bool:
        return (
            self.drop_fraction > 0
            or self.jitter_seconds > 0
            or self.scale != 1.0
            or self.offset != 0.0
            or self.places_events()
        )

    def places_events(self) -> bool:
        """A spike or a shift: both need the whole file's range and its windows before the stream."""
        return self.spike_spans != 0.0 or self.shift_spans != 0.0


Windows = list[tuple[float, float]]  # labelled anomaly windows of a file, as epoch seconds


@dataclass(frozen=True, slots=True)
class _Events:
    """Where a file's spike and shift go (row indexes; -1: none) and how large they are."""

    spike_row: int = -1
    spike_value: float = 0.0
    shift_row: int = -1
    shift_by: float = 0.0


# a file's (epoch seconds, value) per row, None where missing: what the pre-pass of ``run_file`` keeps
Column = list[tuple[float | None, float | None]]


def _plan_events(perturb: Perturbation, rows: Column, windows: Windows) -> _Events:
    """Rows and sizes of ``perturb``'s spike and shift for one file, in the file's own units."""
    if not perturb.places_events():
        return _Events()
    values = [v for _, v in rows if v is not None]
    if not values:
        return _Events()
    lo, hi = min(values), max(values)
    span = hi - lo if hi > lo else 1.0

    def first_row_outside(at: float) -> int:
        i = int(at * len(rows))
        while i < len(rows) - 1 and (
            rows[i][1] is None or any(a <= (rows[i][0] or 0.0) <= b for a, b in windows)
        ):
            i += 1
        return i

    return _Events(
        spike_row=first_row_outside(perturb.spike_at) if perturb.spike_spans else -1,
        spike_value=hi + perturb.spike_spans * span,
        shift_row=first_row_outside(perturb.shift_at) if perturb.shift_spans else -1,
        shift_by=perturb.shift_spans * span,
    )


def read_windows(labels: Path) -> dict[str, Windows]:
    """A NAB windows JSON as epoch-second ranges per file key (``category/file.csv``)."""
    out: dict[str, Windows] = {}
    for key, spans in json.loads(labels.read_text()).items():
        parsed = [(parse_timestamp(a), parse_timestamp(b)) for a, b in spans]
        out[key.replace("\\", "/")] = [(a, b) for a, b in parsed if a is not None and b is not None]
    return out


# The held-out split: a file is held out of all tuning when the first byte of the SHA-256 of its name
# (without the folder) is < 77, i.e. ``byte * 10 // 256 < 3`` (~30 %; on NAB 18 of 58 files, 39 of
# 116 windows). A hash of the name, so the split is fixed, documented and blind to the labels.
HELD_OUT_TENTHS = 3


def is_held_out(key: str) -> bool:
    """Whether the corpus file ``key`` (``category/file.csv``) is in the held-out split."""
    name = key.replace("\\", "/").rsplit("/", 1)[-1]
    return hashlib.sha256(name.encode()).digest()[0] * 10 // 256 < HELD_OUT_TENTHS


_Part = TypeVar("_Part", bound=Hashable)  # what a labels file is cut by: held out or not, a group


def write_split_labels(labels: Path, out_dir: Path) -> tuple[Path, Path]:
    """The labels JSON cut in two: ``labels_tuning.json`` and ``labels_held_out.json`` in ``out_dir``."""
    files = {False: "labels_tuning.json", True: "labels_held_out.json"}
    paths = _write_label_parts(labels, out_dir, is_held_out, files)
    return paths[False], paths[True]


def write_group_labels(labels: Path, data_dir: Path, out_dir: Path) -> dict[str, Path]:
    """The labels JSON cut by group, the top-level folder of ``data_dir``: ``labels_group_<g>.json``.

    Why: one corpus score hides which kind of series a detector fails on (NAB's categories; a team's
    latency, error and resource gauges). Every group with files gets a file, windows or not.
    """
    groups = sorted(
        {p.relative_to(data_dir).parts[0] for p in corpus_files(data_dir) if p.parent != data_dir}
    )
    return _write_label_parts(
        labels,
        out_dir,
        lambda key: key.replace("\\", "/").split("/", 1)[0],
        {group: f"labels_group_{group}.json" for group in groups},
    )


def _write_label_parts(
    labels: Path, out_dir: Path, part_of: Callable[[str], _Part], files: dict[_Part, str]
) -> dict[_Part, Path]:
    """One windows JSON per part of ``files`` (part -> file name): the keys ``part_of`` puts there.

    Written even when a part has no key, so the scorer sees every part.
    """
    windows = json.loads(labels.read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[_Part, Path] = {}
    for part, name in files.items():
        paths[part] = out_dir / name
        part_windows = {k: v for k, v in windows.items() if part_of(k) == part}
        paths[part].write_text(json.dumps(part_windows, indent=1))
    return paths


def nab_probation_rows(rows: int) -> int:
    """NAB's probationary length: 15 % of the file, at most 750 rows (``getProbationaryLength``)."""
    return min(int(0.15 * rows), 750)


def apply_file_priors(
    detector: Detector, data_path: Path, move: Callable[[int, float], float] | None = None
) -> None:
    """The NAB protocol's hints for one file (value range, probation) to a detector that takes them.

    ``move(row, value)``: the value the detector will see (a perturbation), so the range it is told
    is the range of what it sees, as NAB's would be for that series.
    """
    _tell_priors(detector, [v for _, _, _, v in read_series(data_path)], move)


def _tell_priors(
    detector: Detector, column: list[float | None], move: Callable[[int, float], float] | None
) -> None:
    """``apply_file_priors`` over a file's values already read (None where missing)."""
    if not isinstance(detector, UsesPriors):
        return
    values = [v if move is None else move(i, v) for i, v in enumerate(column) if v is not None]
    if values:
        detector.apply_priors(min(values), max(values), nab_probation_rows(len(column)))


def corpus_files(data_dir: Path) -> list[Path]:
    """Every ``*.csv`` under ``data_dir``, sorted, so runs are reproducible."""
    return sorted(p for p in data_dir.rglob("*.csv") if p.is_file())


def parse_timestamp(text: str) -> float | None:
    """Epoch seconds from ISO-like text or a number; None when unparseable (row still scored)."""
    s = text.strip().strip('"')
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        pass
    if s.endswith(("Z", "z")):
        s = s[:-1]
    try:
        stamp = datetime.fromisoformat(s)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def read_series(path: Path) -> Iterator[tuple[str, str, float | None, float | None]]:
    """Rows as (timestamp text, value text, epoch seconds, value); empty values become None."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            ts_text = row.get("timestamp") or ""
            value_text = row.get("value") or ""
            yield ts_text, value_text, parse_timestamp(ts_text), as_finite(value_text.strip() or None)


def run_file(
    factory: DetectorFactory,
    data_path: Path,
    out_path: Path,
    perturb: Perturbation | None = None,
    priors: bool = False,
    windows: Windows | None = None,
) -> FileResult:
    """Stream one file through a fresh detector and write its result CSV.

    ``priors``: the NAB protocol, the detector is told the file's value range and probationary
    length first (``apply_file_priors``); without, it sees nothing but the stream. ``windows``: the
    file's labelled windows, which a perturbation's spike and shift keep out of.
    """
    detector = factory()
    # one pre-pass over the file, only when the priors or a spike or shift need the whole column
    planned = perturb is not None and perturb.places_events()
    column: Column = [(t, v) for _, _, t, v in read_series(data_path)] if priors or planned else []
    events = _plan_events(perturb, column, windows or []) if perturb is not None else _Events()
    moving = perturb is not None and perturb.active()

    def move(i: int, value: float) -> float:
        """Row ``i``'s value as the detector sees it: the spike, the shift, then scale and offset."""
        assert perturb is not None
        value = events.spike_value if i == events.spike_row else value
        value += events.shift_by if 0 <= events.shift_row <= i else 0.0
        return perturb.scale * value + perturb.offset

    if priors:
        _tell_priors(detector, [v for _, v in column], move if moving else None)
    rng = random.Random((perturb.seed if perturb else 0) ^ zlib.crc32(data_path.name.encode()))
    hide = _hidden_rows(perturb or Perturbation(), rng)  # draws only when asked
    rows = 0
    spent = 0.0
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["timestamp", "value", "anomaly_score"])
        for i, (ts_text, value_text, t, value) in enumerate(read_series(data_path)):
            if perturb is not None and moving:
                if next(hide):
                    value = None
                if t is not None and perturb.jitter_seconds > 0:
                    t += rng.uniform(-perturb.jitter_seconds, perturb.jitter_seconds)
                if value is not None:
                    value = move(i, value)
            x = {"value": value} if value is not None else {}
            start = time.perf_counter()
            score = score_learn(detector, x, t)
            spent += time.perf_counter() - start
            writer.writerow([ts_text, value_text, repr(float(score))])
            rows += 1
    return FileResult(
        key=str(data_path),
        rows=rows,
        seconds=spent,
        state_bytes=len(pickle.dumps(detector, protocol=pickle.HIGHEST_PROTOCOL)),
    )


def _hidden_rows(perturb: Perturbation, rng: random.Random) -> Iterator[bool]:
    """Whether each row's value is hidden: ``drop_fraction`` of them, alone or in runs of 1..``gap_rows``.

    A run starts at a visible row with probability f / (L (1 - f)), L the mean run length, so the
    hidden share is f either way. One row at a time draws exactly as before runs existed (same CSVs).
    """
    f = perturb.drop_fraction
    if perturb.gap_rows <= 1:
        while True:
            yield rng.random() < f
    start = f / ((1 + perturb.gap_rows) / 2 * (1 - f)) if f > 0 else 0.0
    while True:
        if rng.random() < start:
            for _ in range(rng.randint(1, perturb.gap_rows)):
                yield True
        else:
            yield False


def run_corpus(
    factory: DetectorFactory,
    data_dir: Path,
    out_dir: Path,
    progress: Callable[[int, int, FileResult], None] | None = None,
    perturb: Perturbation | None = None,
    priors: bool = False,
    windows: dict[str, Windows] | None = None,
) -> list[FileResult]:
    """Run every file of the corpus; ``progress(i, n, result)`` is called after each file.

    ``windows`` (``read_windows``): labelled windows per file key, kept clear of spikes and shifts.
    """
    files = corpus_files(data_dir)
    results: list[FileResult] = []
    for i, path in enumerate(files, start=1):
        rel = path.relative_to(data_dir)
        file_windows = (windows or {}).get(rel.as_posix(), [])
        result = run_file(factory, path, out_dir / rel, perturb, priors, file_windows)
        result = FileResult(
            key=str(rel), rows=result.rows, seconds=result.seconds, state_bytes=result.state_bytes
        )
        results.append(result)
        if progress is not None:
            progress(i, len(files), result)
    return results
