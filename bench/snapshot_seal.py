"""What sealing a recovery snapshot costs: pickle + AES-256-GCM per snapshot, against the pickle alone.

Why: with a storage key the dataflow seals every stateful snapshot (``forewarn.pipeline.snapshot_seal``)
at each epoch's end, for every series that changed in it. Bytewax pickles the snapshot anyway; the
extra work is one more pickle (ours, inside the seal) and the AES-GCM pass. States are real: each
logic is built by the dataflow's own builders and fed ``--events`` events through the same functions
the flow calls (a probe series' detector, a pool gauge's forecaster, a service's drain3 miner).

Usage: ``python bench/snapshot_seal.py [--events 2000] [--repeat 2000] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from forewarn.events import LogRecord, MetricSample, ProbeResult
from forewarn.field_crypto import FieldCipher, generate_key, parse_keys
from forewarn.pipeline.detection import DetectionEngine
from forewarn.pipeline.forecast_steps import ForecastSteps
from forewarn.pipeline.metrics import PipelineMetrics
from forewarn.pipeline.observations import observations_from
from forewarn.pipeline.snapshot_seal import open_snapshot, seal_snapshot
from forewarn.pipeline.steps import FlowSteps
from forewarn.settings import Settings


def states(events: int) -> dict[str, Any]:
    """One real snapshot per stateful step, after ``events`` events of its series."""
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(seconds=events)
    settings = Settings()
    metrics = PipelineMetrics(CollectorRegistry())

    def clock() -> datetime:
        return datetime.now(UTC)

    steps = FlowSteps(settings.ingest, DetectionEngine(settings.detector, clock), metrics, clock)
    side = ForecastSteps(settings, metrics, metrics.registry, clock)
    detect = steps.series_logic(None)
    forecast = side.forecast_logic(None)
    logs = side.log_logic(None)
    for i in range(events):
        at = start + timedelta(seconds=i)
        probe = ProbeResult(
            service="auth",
            timestamp=at,
            endpoint="http://auth/health",
            latency_ms=40 + rng.gauss(0, 4),
            status_code=200,
            ok=True,
            status="ok",
        )
        for obs in observations_from(probe):
            if obs.series == "auth/latency_ms":
                detect.on_item([obs])
        gauge = MetricSample(service="database", timestamp=at, name="db_pool_usage", value=0.2 + 0.0001 * i)
        for gauge_obs in side.gauges(gauge):
            forecast.on_item([gauge_obs])
        user = rng.randrange(10_000)
        logs.on_item(
            [
                LogRecord(
                    service="auth",
                    timestamp=at,
                    level="INFO",
                    message=f"login ok for user {user} in {i % 90} ms",
                )
            ]
        )
    return {"detect": detect.snapshot(), "forecast": forecast.snapshot(), "log-patterns": logs.snapshot()}


def per_call_us(fn: Callable[[], object], repeat: int) -> float:
    """Median of 5 rounds of ``repeat`` calls, in microseconds per call."""
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        rounds.append((time.perf_counter() - t0) / repeat * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    cipher = FieldCipher(parse_keys([generate_key()]))
    results = {}
    for step, snap in states(args.events).items():
        sealed = seal_snapshot(cipher, step, snap)
        assert sealed is not None and open_snapshot(cipher, step, sealed) is not None
        plain_bytes = pickle.dumps(snap, protocol=pickle.HIGHEST_PROTOCOL)
        sealed_bytes: bytes = sealed

        def pickle_it(s: object = snap) -> bytes:
            return pickle.dumps(s, protocol=pickle.HIGHEST_PROTOCOL)

        def seal_it(s: object = snap, n: str = step) -> bytes | None:
            return seal_snapshot(cipher, n, s)

        def open_it(b: bytes = sealed_bytes, n: str = step) -> object:
            return open_snapshot(cipher, n, b)

        results[step] = {
            "plain_bytes": len(plain_bytes),
            "sealed_bytes": len(sealed_bytes),
            "pickle_us": round(per_call_us(pickle_it, args.repeat), 2),
            "seal_us": round(per_call_us(seal_it, args.repeat), 2),
            "open_us": round(per_call_us(open_it, args.repeat), 2),
        }
    out = {"events_per_series": args.events, "repeat": args.repeat, "steps": results}
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
