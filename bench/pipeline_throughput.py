"""Events per second through the dataflow, 1 worker: plain logic, Bytewax in memory, real Kafka.

Why three rows: the gap between them says where time goes. "plain logic" runs parse -> series ->
detector step in a Python loop (no Bytewax); "Bytewax, in memory" is the production flow fed by a
TestingSource into counting sinks (adds Bytewax's per-item overhead); "Bytewax, real Kafka" is the
production flow reading a real broker's topics (KafkaSource, tail off, from the beginning) and
writing detections and dead letters back to it (adds consume, produce and flush).

The input is a realistic mix: probes of 6 services (one of them failing half-way), pool/memory
metrics, log lines, and 1% malformed messages, with event times near now.

Usage: ``python bench/pipeline_throughput.py [--events 50000] [--kafka-events 50000] [--no-kafka]
[--bootstrap HOST:PORT] [--json bench/results/pipeline_throughput.json]``. Without ``--bootstrap``
a throwaway local broker is started on free ports (and stopped).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import TestingSource, run_main

from forewarn.dev.bench.pipeline_load import mixed_workload
from forewarn.events import DeadLetter
from forewarn.ingest import RawMessage, parse_message
from forewarn.pipeline.dataflow import FlowSinks, build_flow, kafka_sinks, kafka_source
from forewarn.pipeline.detection import DetectionEngine, SeriesState
from forewarn.pipeline.observations import observations_from
from forewarn.settings import KafkaSettings, PipelineSettings, Settings, TopicSettings


def workload(count: int, seed: int = 1) -> list[tuple[str, bytes, bytes | None]]:
    """(topic, key, value): the mixed workload of ``forewarn bench pipeline`` (one generator for both)."""
    return list(mixed_workload(TopicSettings(), count, seed))


class _CountingPartition(StatelessSinkPartition[Any]):
    def __init__(self, counter: list[int]) -> None:
        self._counter = counter

    def write_batch(self, items: list[Any]) -> None:
        self._counter[0] += len(items)


class CountingSink(DynamicSink[Any]):
    """Counts what reaches it and keeps nothing (a list sink would grow memory with the run)."""

    def __init__(self) -> None:
        self.count = [0]

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _CountingPartition:
        return _CountingPartition(self.count)


def bench_plain(messages: list[tuple[str, bytes, bytes | None]], settings: Settings) -> dict[str, Any]:
    engine = DetectionEngine(settings.detector, lambda: datetime.now(UTC))
    states: dict[str, SeriesState] = {}
    detections = letters = 0
    began = time.perf_counter()
    for topic, key, value in messages:
        result = parse_message(RawMessage(value=value, topic=topic, key=key), settings.ingest)
        if isinstance(result, DeadLetter):
            letters += 1
            continue
        for obs in observations_from(result):
            state = states.get(obs.series) or engine.new_state(obs)
            states[obs.series], found = engine.step(state, obs)
            detections += len(found)
    elapsed = time.perf_counter() - began
    return _row("plain logic (no Bytewax)", len(messages), elapsed, detections, letters)


def bench_memory(messages: list[tuple[str, bytes, bytes | None]], settings: Settings) -> dict[str, Any]:
    raws = [RawMessage(value=v, topic=t, key=k) for t, k, v in messages]
    detections, letters = CountingSink(), CountingSink()
    flow = build_flow(settings, TestingSource(raws, batch_size=1000), FlowSinks(detections, letters))
    began = time.perf_counter()
    run_main(flow)  # type: ignore[no-untyped-call]
    elapsed = time.perf_counter() - began
    return _row(
        "Bytewax, in memory (TestingSource)", len(raws), elapsed, detections.count[0], letters.count[0]
    )


@contextmanager
def _broker(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    from forewarn.dev.broker import LocalKafka

    with tempfile.TemporaryDirectory(prefix="forewarn-bench-kafka-") as tmp:
        broker = LocalKafka(Path(tmp), port=0, controller_port=0, die_with_parent=True)
        broker.start()
        try:
            yield broker.bootstrap
        finally:
            broker.stop()


def bench_kafka(messages: list[tuple[str, bytes, bytes | None]], bootstrap: str) -> dict[str, Any]:
    from forewarn.kafka.io import ensure_topics, make_producer, read_topic

    prefix = f"bench.{uuid.uuid4().hex[:8]}."
    defaults = TopicSettings()
    topics = TopicSettings(**{f: prefix + getattr(defaults, f) for f in TopicSettings.model_fields})
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        topics=topics,
        pipeline=PipelineSettings(start_from="earliest"),
    )
    ensure_topics(bootstrap, topics.all())
    producer = make_producer(settings, linger_ms=20, batch_size=256 * 1024)
    renamed = {getattr(defaults, f): getattr(topics, f) for f in TopicSettings.model_fields}
    for topic, key, value in messages:
        producer.send(renamed[topic], key=key, value=value)
    producer.flush()
    producer.close()

    flow = build_flow(
        settings, kafka_source(settings, from_beginning=True, tail=False), kafka_sinks(settings)
    )
    began = time.perf_counter()
    run_main(flow)  # type: ignore[no-untyped-call]
    elapsed = time.perf_counter() - began
    detections = len(read_topic(bootstrap, topics.detections, timeout=30))
    letters = len(read_topic(bootstrap, topics.dead_letter, timeout=30))
    return _row("Bytewax, real Kafka (consume + produce)", len(messages), elapsed, detections, letters)


def _row(name: str, events: int, seconds: float, detections: int, letters: int) -> dict[str, Any]:
    return {
        "mode": name,
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_second": round(events / seconds, 1),
        "microseconds_per_event": round(seconds / events * 1e6, 2),
        "detections": detections,
        "dead_letters": letters,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="events for the in-memory runs")
    parser.add_argument("--kafka-events", type=int, default=50_000, help="events for the Kafka run")
    parser.add_argument("--no-kafka", action="store_true", help="skip the real-Kafka run")
    parser.add_argument("--bootstrap", help="use this broker instead of starting a throwaway one")
    parser.add_argument("--json", type=Path, default=Path("bench/results/pipeline_throughput.json"))
    args = parser.parse_args(argv)

    settings = Settings()
    messages = workload(args.events)
    rows = [bench_plain(messages, settings), bench_memory(messages, settings)]
    if not args.no_kafka:
        with _broker(args.bootstrap) as bootstrap:
            rows.append(bench_kafka(workload(args.kafka_events), bootstrap))

    report = {
        "benchmark": "pipeline_throughput",
        "workers": 1,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average": os.getloadavg()},
        "results": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")

    header = (
        f"{'mode':<42} {'events':>8} {'seconds':>8} {'events/s':>10} {'us/event':>9} "
        f"{'detections':>10} {'dead':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['mode']:<42} {r['events']:>8} {r['seconds']:>8.2f} {r['events_per_second']:>10.0f} "
            f"{r['microseconds_per_event']:>9.1f} {r['detections']:>10} {r['dead_letters']:>6}"
        )
    print(f"\nload average {os.getloadavg()}; JSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
