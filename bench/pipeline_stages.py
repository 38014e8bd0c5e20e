"""Where the dataflow's time goes: µs per event for each of its steps, run without Bytewax or Kafka.

Why apart from ``forewarn bench pipeline``: that command measures the whole (Kafka in and out, Bytewax,
every step) and so cannot say which step to make cheaper; a profiler can, but it inflates Python
calls unevenly. Here each step the flow runs (``FlowSteps``, ``ForecastSteps``, the per-key logic)
is timed with a plain clock over the same micro-batches the dataflow sees (the bench's mixed
workload, batches of ``pipeline.batch_size``, the garbage collector set as ``forewarn run`` sets it),
so the shares add up to the flow's own Python work.
Two floors are timed on the same messages for scale: ``json.loads`` alone and pydantic's validation.

Usage: ``python bench/pipeline_stages.py [--events 50000] [--rounds 3] [--json FILE]``; the best of
``--rounds`` passes is kept per step (each pass starts from fresh state).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from forewarn.dev.bench.pipeline_load import mixed_workload
from forewarn.ingest import RawMessage
from forewarn.pipeline.dataflow import utc_now
from forewarn.pipeline.detection import DetectionEngine
from forewarn.pipeline.forecast_steps import ForecastSteps
from forewarn.pipeline.messages import detection_message
from forewarn.pipeline.metrics import PipelineMetrics
from forewarn.pipeline.runner import tune_gc
from forewarn.pipeline.steps import FlowSteps
from forewarn.settings import Settings

STEPS = (
    "parse (pydantic, dead letters, metrics)",
    "observations, grouped by series",
    "detect (detector step + alert state)",
    "detection messages",
    "gauges, grouped by series",
    "forecast",
    "log records, grouped by service",
    "log patterns (redaction + drain3)",
)


def one_pass(messages: list[RawMessage], settings: Settings) -> tuple[dict[str, float], int]:
    """Seconds per step over all of ``messages`` from fresh state, and the detections made."""
    metrics = PipelineMetrics(CollectorRegistry(), clock=lambda: utc_now().timestamp())
    engine = DetectionEngine(settings.detector, utc_now)
    pipeline = settings.pipeline
    steps = FlowSteps(settings.ingest, engine, metrics, utc_now, pipeline.series_idle, pipeline.max_series)
    side = ForecastSteps(settings, metrics, metrics.registry, utc_now, admit=steps.admit)
    series: dict[str, Any] = {}
    gauges: dict[str, Any] = {}
    logs: dict[str, Any] = {}
    spent = dict.fromkeys(STEPS, 0.0)
    detections = 0
    clock = time.perf_counter

    def keyed(groups: list[tuple[str, Any]], held: dict[str, Any], build: Callable[[None], Any]) -> list[Any]:
        out: list[Any] = []
        for key, items in groups:
            logic = held.get(key)
            if logic is None:
                logic = held[key] = build(None)
            out.extend(logic.on_item(items)[0])
        return out

    size = pipeline.batch_size
    for start in range(0, len(messages), size):
        t0 = clock()
        parsed = steps.parse_batch(list(messages[start : start + size]))
        t1 = clock()
        groups = steps.observations(parsed)
        t2 = clock()
        found = keyed(groups, series, steps.series_logic)
        t3 = clock()
        detections += len([detection_message(d) for d in found])
        t4 = clock()
        gauge_groups = side.gauge_groups(parsed)
        t5 = clock()
        keyed(gauge_groups, gauges, side.forecast_logic)
        t6 = clock()
        log_groups = side.log_groups(parsed)
        t7 = clock()
        keyed(log_groups, logs, side.log_logic)
        t8 = clock()
        marks = (t0, t1, t2, t3, t4, t5, t6, t7, t8)
        for name, begin, end in zip(STEPS, marks[:-1], marks[1:], strict=True):
            spent[name] += end - begin
    return spent, detections


def floors(messages: list[RawMessage]) -> dict[str, float]:
    """Seconds for ``json.loads`` alone and for the parse step's pydantic validation alone."""
    from forewarn.ingest import _FAST  # the one-pass validator parse_message tries first

    values = [m.value or b"" for m in messages]
    start = time.perf_counter()
    for value in values:
        with contextlib.suppress(ValueError):
            json.loads(value)
    loads = time.perf_counter() - start
    start = time.perf_counter()
    for value in values:
        with contextlib.suppress(ValueError):
            _FAST.validate_json(value)
    return {"json.loads only": loads, "pydantic validate_json only": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="messages of the mixed workload")
    parser.add_argument("--rounds", type=int, default=3, help="passes; the best per step is kept")
    parser.add_argument("--json", type=Path, default=Path("bench/results/pipeline_stages.json"))
    args = parser.parse_args(argv)

    settings = Settings()
    workload = mixed_workload(settings.topics, args.events)
    messages = [RawMessage(value, topic, key) for topic, key, value in workload]
    tune_gc(settings.pipeline.gc_threshold)  # as `forewarn run` does
    best: dict[str, float] = {}
    detections = 0
    for _ in range(args.rounds):
        spent, detections = one_pass(messages, settings)
        spent.update(floors(messages))
        best = {k: min(v, best.get(k, v)) for k, v in spent.items()}
    n = len(messages)
    flow = sum(best[name] for name in STEPS)
    rows = [
        {"step": name, "us_per_event": round(best[name] / n * 1e6, 2), "share": round(best[name] / flow, 3)}
        for name in STEPS
    ]
    report = {
        "benchmark": "pipeline_stages",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average": os.getloadavg()},
        "events": n,
        "rounds": args.rounds,
        "detector_model": settings.detector.model,
        "steps": rows,
        "flow_us_per_event": round(flow / n * 1e6, 2),
        "flow_events_per_second": round(n / flow),
        "json_loads_us_per_event": round(best["json.loads only"] / n * 1e6, 2),
        "pydantic_us_per_event": round(best["pydantic validate_json only"] / n * 1e6, 2),
        "detections": detections,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")

    print(f"{'step':<44} {'us/event':>9} {'share':>7}")
    print("-" * 62)
    for row in rows:
        print(f"{row['step']:<44} {row['us_per_event']:>9.2f} {row['share']:>7.1%}")
    print("-" * 62)
    rate = f"({report['flow_events_per_second']:,} events/s)"
    print(f"{'the flow own Python work':<44} {report['flow_us_per_event']:>9.2f}  {rate}")
    print(f"{'for scale: json.loads alone':<44} {report['json_loads_us_per_event']:>9.2f}")
    print(f"{'for scale: pydantic validate_json alone':<44} {report['pydantic_us_per_event']:>9.2f}")
    print(f"\n{n:,} events, best of {args.rounds}, load average {os.getloadavg()}; JSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
