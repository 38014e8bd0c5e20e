"""Where ``ContextDetector``'s time goes: its steps split by the path they take through the memory.

Why: CAD's cost is not spread evenly. A step whose previous facts were met recently finds what they
select cached (``ContextMemory._left_side``), and a step whose zero-level context is new builds and
learns candidates; the four combinations cost very different amounts. This runs the NAB corpus
through ``ContextDetector()`` (online protocol: no priors), wraps ``ContextMemory.plan`` and
``commit`` with a plain clock, and prints each path's share of steps and of time, so a change can be
aimed at the paths that cost. The wrapping adds about a microsecond per call; the per-event figure
includes it and the wrapper's own work (value range, rest period, the score object). It profiles
the numpy memory, the fallback where no C compiler is found (``models/cad_native.py``).

Usage: ``python bench/cad_steps.py [--data NAB_DIR] [--files N] [--json FILE]``; the data default is
``$FOREWARN_NAB_DIR`` or ``../shared/datasets/nab`` beside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forewarn.dev.bench.nab import corpus_files, read_series
from forewarn.models import cad
from forewarn.models.cad import ContextDetector
from forewarn.models.cad_memory import ContextMemory, Plan

_REPO = Path(__file__).resolve().parent.parent


def _path_of(plan: Plan, cached: bool) -> str:
    left = "left side cached" if cached else "left side computed"
    zero = "new zero-level context" if plan.zero is not None and plan.zero_id is None else "known context"
    return f"{left}, {zero}"


def measure(files: list[Path]) -> dict[str, Any]:
    """Run every file through a fresh detector; time (ns) and count per path, for plan and commit."""
    clock = time.perf_counter_ns
    spent: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # path -> [steps, plan ns, commit ns]
    plan, commit = ContextMemory.plan, ContextMemory.commit
    current: list[str] = [""]

    def timed_plan(self: ContextMemory, value_facts: tuple[int, ...]) -> Plan:
        cached = self._left is not None or self.prev in self._lefts
        began = clock()
        made = plan(self, value_facts)
        took = clock() - began
        current[0] = _path_of(made, cached)
        row = spent[current[0]]
        row[0] += 1
        row[1] += took
        return made

    def timed_commit(self: ContextMemory, made: Plan) -> None:
        began = clock()
        commit(self, made)
        spent[current[0]][2] += clock() - began

    events, total = 0, 0
    ContextMemory.plan, ContextMemory.commit = timed_plan, timed_commit  # type: ignore[method-assign,assignment]
    made_by = cad.memory_factory
    cad.memory_factory = ContextMemory  # the numpy memory is what this profiles, not the C one
    try:
        for path in files:
            detector = ContextDetector()
            for _, _, t, value in read_series(path):
                if value is None:
                    continue
                began = clock()
                detector.score_learn_one({"value": value}, t)
                total += clock() - began
                events += 1
    finally:
        ContextMemory.plan, ContextMemory.commit = plan, commit  # type: ignore[method-assign]
        cad.memory_factory = made_by
    paths = [
        {
            "path": name,
            "steps": steps,
            "plan_us": plan_ns / steps / 1000,
            "commit_us": commit_ns / steps / 1000,
            "share_of_time": (plan_ns + commit_ns) / total,
        }
        for name, (steps, plan_ns, commit_ns) in sorted(spent.items())
    ]
    return {"events": events, "us_per_event": total / events / 1000 if events else None, "paths": paths}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("FOREWARN_NAB_DIR") or _REPO.parent / "shared" / "datasets" / "nab")
    parser.add_argument("--data", type=Path, default=default, help="NAB directory (with data/)")
    parser.add_argument("--files", type=int, default=None, help="only the first N files")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    data = args.data / "data" if (args.data / "data").is_dir() else args.data
    if not data.is_dir():
        print(f"error: no NAB data at {data} (use --data or $FOREWARN_NAB_DIR)", file=sys.stderr)
        return 2
    files = corpus_files(data)[: args.files]
    report = {
        "benchmark": "cad_steps",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "files": len(files),
        **measure(files),
    }
    print(
        f"ContextDetector(), online protocol, {report['files']} files, {report['events']:,} events: "
        f"{report['us_per_event']:.1f} µs per event (timed)"
    )
    print(f"{'path':<56} {'steps':>8} {'share':>6} {'plan µs':>8} {'commit µs':>9} {'of time':>7}")
    steps = sum(row["steps"] for row in report["paths"])
    for row in report["paths"]:
        print(
            f"{row['path']:<56} {row['steps']:>8,} {row['steps'] / steps:>6.1%} {row['plan_us']:>8.1f} "
            f"{row['commit_us']:>9.1f} {row['share_of_time']:>7.1%}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
