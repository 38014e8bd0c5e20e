"""How long the local Kafka broker takes to start, and what each start-up tuning buys.

Why: every integration test session and every demo run waits for this broker, so its start time is
part of the suite's and the demo's budget. Measures, on this machine:

- ``--cold``: the first-ever jar download (fresh forewarn cache and fresh Maven repository, so it
  really goes to Maven Central) and its size;
- first start on an empty data dir (includes ``StorageTool format``);
- cached starts (data dir already formatted) with the JVM tunings on and off:
  ``fast_start`` (C1 JIT only) and ``class_data_sharing`` (AppCDS archive of Kafka's classes).

Usage: ``python bench/broker_start.py [--runs 3] [--cold] [--json out.json]``. Prints a table and
writes JSON. The machine's load average is recorded since other work on it skews the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from forewarn.dev.broker import LocalKafka
from forewarn.dev.kafka_jars import ensure_kafka_jars, kafka_home
from forewarn.settings import load_settings

CONFIGS = {
    "plain JVM": {"fast_start": False, "class_data_sharing": False},
    "C1 only": {"fast_start": True, "class_data_sharing": False},
    "CDS only": {"fast_start": False, "class_data_sharing": True},
    "C1 + CDS (default)": {"fast_start": True, "class_data_sharing": True},
}


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def cold_download(version: str) -> dict[str, Any]:
    """Download into throwaway caches so nothing already on disk helps."""
    with tempfile.TemporaryDirectory(prefix="forewarn-bench-") as tmp:
        previous = os.environ.get("MAVEN_OPTS")
        os.environ["MAVEN_OPTS"] = f"-Dmaven.repo.local={Path(tmp) / 'm2'}"
        try:
            files: list[str] = []
            started = time.monotonic()
            libs = ensure_kafka_jars(version, root=Path(tmp) / "cache", on_progress=files.append)
            seconds = time.monotonic() - started
        finally:
            if previous is None:
                os.environ.pop("MAVEN_OPTS", None)
            else:
                os.environ["MAVEN_OPTS"] = previous
        return {
            "seconds": round(seconds, 2),
            "maven_files_downloaded": len(files),
            "jars": len(list(libs.glob("*.jar"))),
            "libs_mb": round(_dir_size(libs) / 1e6, 1),
            "maven_repo_mb": round(_dir_size(Path(tmp) / "m2") / 1e6, 1),
        }


def timed_start(
    data_dir: Path, version: str, *, fast_start: bool, class_data_sharing: bool
) -> tuple[float, float]:
    broker = LocalKafka(
        data_dir,
        port=0,
        controller_port=0,
        version=version,
        die_with_parent=True,
        fast_start=fast_start,
        class_data_sharing=class_data_sharing,
    )
    started = time.monotonic()
    broker.start()
    start_seconds = time.monotonic() - started
    started = time.monotonic()
    broker.stop()
    return start_seconds, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="cached starts per configuration")
    parser.add_argument("--cold", action="store_true", help="also time a first-ever jar download")
    parser.add_argument("--json", type=Path, default=Path("bench/results/broker_start.json"))
    args = parser.parse_args()
    version = load_settings().kafka.version
    result: dict[str, Any] = {"kafka_version": version, "load_average_before": os.getloadavg()}
    if args.cold:
        result["cold_download"] = cold_download(version)
    libs = ensure_kafka_jars(version)
    result["libs_mb"] = round(_dir_size(libs) / 1e6, 1)
    for archive in kafka_home(version).glob("cds-*.jsa"):
        archive.unlink()  # so the first CDS run below has to build it (measured separately)

    with tempfile.TemporaryDirectory(prefix="forewarn-bench-") as tmp:
        first, _ = timed_start(Path(tmp) / "first", version, fast_start=True, class_data_sharing=False)
        result["first_start_with_format_seconds"] = round(first, 2)
        start, stop = timed_start(Path(tmp) / "first", version, fast_start=True, class_data_sharing=True)
        result["cds_archive_build"] = {"start_seconds": round(start, 2), "stop_seconds": round(stop, 2)}
        samples: dict[str, list[float]] = {name: [] for name in CONFIGS}
        for _ in range(args.runs):  # interleaved, so a load spike hits every configuration alike
            for name, options in CONFIGS.items():
                samples[name].append(timed_start(Path(tmp) / "first", version, **options)[0])
    result["cached_start_seconds"] = {
        name: {"median": round(statistics.median(values), 2), "runs": [round(v, 2) for v in values]}
        for name, values in samples.items()
    }
    result["load_average_after"] = os.getloadavg()

    print(
        f"Kafka {version} local broker start ({os.cpu_count()} cores, load {result['load_average_before']})"
    )
    if "cold_download" in result:
        cold = result["cold_download"]
        print(
            f"first jar download: {cold['seconds']} s, {cold['jars']} jars, {cold['libs_mb']} MB "
            f"(+{cold['maven_repo_mb']} MB Maven repository)"
        )
    print(f"first start (format + start): {result['first_start_with_format_seconds']} s")
    print(f"CDS archive build run: start {start:.2f} s, stop {stop:.2f} s (dumps the archive once)")
    print(f"{'configuration':<22} {'median s':>9}  runs")
    for name, row in result["cached_start_seconds"].items():
        print(f"{name:<22} {row['median']:>9}  {row['runs']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
