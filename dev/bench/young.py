"""A corpus of young series: each file of a NAB-layout corpus cut to its last rows, with its windows.

Why: a team that points forewarn at its own stack starts every series from nothing, and on a new
corpus the files may be short. NAB's files run 1,000-22,000 rows, so its probationary period (15 %,
at most 750 rows) hides most of a detector's early life; cutting each file to its last N rows scores
that early life with the labels kept. The cut corpus is an ordinary corpus on disk, so ``bench nab``
runs and scores it like any other.

Windows follow NAB's labelling convention for a file of that length: clipped to the rows kept, and
dropped when they reach into the cut file's probationary period (no detector could be credited there).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from forewarn.dev.bench.nab import corpus_files, nab_probation_rows, parse_timestamp, read_windows

_LABEL_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # NAB's windows JSON


def cut_corpus(data_dir: Path, labels: Path | None, rows: int, out_root: Path) -> tuple[Path, Path | None]:
    """Write each file's last ``rows`` rows under ``out_root/data`` and their windows; return both paths.

    A file with ``rows`` rows or fewer is copied whole. ``labels`` None: no windows file is written.
    """
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    windows = read_windows(labels) if labels is not None else {}
    cut: dict[str, list[list[str]]] = {}
    for path in corpus_files(data_dir):
        key = path.relative_to(data_dir).as_posix()
        with path.open(newline="") as f:
            table = list(csv.reader(f))
        header, body = table[:1], table[1:][-rows:]
        target = out_root / "data" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="") as f:
            csv.writer(f).writerows(header + body)
        cut[key] = _windows_in(body, windows.get(key, []), header[0] if header else [])
    if labels is None:
        return out_root / "data", None
    labels_out = out_root / "labels" / "combined_windows.json"
    labels_out.parent.mkdir(parents=True, exist_ok=True)
    labels_out.write_text(json.dumps(cut, indent=1))
    return out_root / "data", labels_out


def _windows_in(
    body: list[list[str]], spans: list[tuple[float, float]], header: list[str]
) -> list[list[str]]:
    """The windows of ``spans`` that lie in the rows kept, clipped; none reaching into probation."""
    column = header.index("timestamp") if "timestamp" in header else 0
    stamps = [parse_timestamp(row[column]) if len(row) > column else None for row in body]
    known = [t for t in stamps if t is not None]
    if not known or not spans:
        return []
    first, last = known[0], known[-1]
    probation = nab_probation_rows(len(body))
    # the first row the scorer credits: the row after the probationary period, or the file's end
    credited = next((t for t in stamps[probation:] if t is not None), None)
    out: list[list[str]] = []
    for a, b in spans:
        if b < first or a > last:
            continue
        a, b = max(a, first), min(b, last)
        if credited is None or a < credited:
            continue
        out.append([_label(a), _label(b)])
    return out


def _label(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime(_LABEL_FORMAT)
