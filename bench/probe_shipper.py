"""Throughput and overhead of the probe runner and the log shipper, on real parts.

Why: an operator sizing forewarn asks how many log lines per second one shipper process keeps up
with, and how much of a probe's reported latency is the prober's own overhead. Three measurements:

1. parse: ``parse_log_line`` on JSON lines (the demo app's format), plain text and garbage (CPU only);
2. ship: the same JSON lines through ``LogShipper`` -> ``KafkaPublisher`` -> a real local Kafka
   broker, counted as delivered only once read back from the topic;
3. probe: rounds of the six health endpoints of the real MusoBuddy demo app over HTTP; the probe's
   ``latency_ms`` against the app's own ``reported_latency_ms`` gives the client-side overhead.

Usage: ``python bench/probe_shipper.py [--lines 50000] [--rounds 30] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forewarn.collect.log_lines import parse_log_line
from forewarn.collect.probe import ProbeRunner, make_client
from forewarn.collect.shipper import LogShipper
from forewarn.dev.broker import LocalKafka
from forewarn.kafka.io import ensure_topics, read_topic
from forewarn.kafka.publisher import KafkaPublisher, kafka_producer_factory
from forewarn.musobuddy.server import running_app
from forewarn.settings import ProbeSettings, load_settings


def json_line(i: int) -> str:
    return json.dumps(
        {
            "timestamp": "2026-11-25T17:31:00.899+00:00",
            "level": "ERROR" if i % 50 == 0 else "INFO",
            "logger": "musobuddy.http",
            "message": f"GET /api/health/database 200 {20 + i % 30}.9 ms",
            "service": "musobuddy",
            "method": "GET",
            "path": "/api/health/database",
            "status_code": 200,
            "duration_ms": 26.93 + i % 7,
        }
    )


def plain_line(i: int) -> str:
    return f"2026-11-25 17:20:01,{i % 1000:03d} ERROR [db.pool] pool exhausted after {i % 30} waits"


def garbage_line(i: int) -> str:
    return f"\x00\x01 ??? {i} {{not json ]]"


def bench_parse(lines: int) -> dict[str, float]:
    now = datetime.now(UTC)
    rates: dict[str, float] = {}
    for name, make in (("json", json_line), ("plain", plain_line), ("garbage", garbage_line)):
        batch = [make(i) for i in range(lines)]
        started = time.perf_counter()
        for line in batch:
            parse_log_line(line, "musobuddy", now)
        rates[name] = lines / (time.perf_counter() - started)
    return rates


def bench_ship(bootstrap: str, lines: int) -> dict[str, Any]:
    topic = f"bench.shipper.{os.getpid()}.{lines}"
    ensure_topics(bootstrap, [topic], partitions=3)
    batch = [json_line(i) for i in range(lines)]
    publisher = KafkaPublisher(kafka_producer_factory(bootstrap, "forewarn-bench"), buffer_size=lines)
    shipper = LogShipper(publisher, "musobuddy", topic)
    started = time.perf_counter()
    shipper.ship_lines(batch)
    publisher.flush(timeout=120)
    shipped_seconds = time.perf_counter() - started
    stats = publisher.stats()
    publisher.close()
    records = read_topic(bootstrap, topic, timeout=120)
    return {
        "lines": lines,
        "delivered": stats.delivered,
        "read_back": len(records),
        "dropped": stats.dropped,
        "lines_per_s": lines / shipped_seconds,
    }


def bench_raw_producer(bootstrap: str, lines: int) -> float:
    """Baseline: the same payloads sent straight through kafka-python, no parsing, no buffer."""
    topic = f"bench.raw.{os.getpid()}.{lines}"
    ensure_topics(bootstrap, [topic], partitions=3)
    now = datetime.now(UTC)
    payloads = []
    for i in range(lines):
        record = parse_log_line(json_line(i), "musobuddy", now)
        assert record is not None
        payloads.append(record.to_json_bytes())
    producer = kafka_producer_factory(bootstrap, "forewarn-bench-raw")()
    started = time.perf_counter()
    for value in payloads:
        producer.send(topic, value=value, key=b"musobuddy")
    producer.flush(timeout=120)
    seconds = time.perf_counter() - started
    producer.close(timeout=10)
    return lines / seconds


def bench_probe(rounds: int) -> dict[str, Any]:
    async def go(base_url: str) -> tuple[list[float], list[float]]:
        settings = ProbeSettings(base_url=base_url, retries=0)
        round_ms: list[float] = []
        overhead_ms: list[float] = []
        async with make_client(settings.timeout_seconds) as client:
            runner = ProbeRunner(settings, client)
            await runner.run_round()  # warm the connection pool
            for _ in range(rounds):
                started = time.perf_counter()
                results = await runner.run_round()
                round_ms.append((time.perf_counter() - started) * 1000)
                for result in results:
                    reported = result.details.get("reported_latency_ms")
                    if isinstance(reported, int | float):
                        overhead_ms.append(result.latency_ms - float(reported))
        return round_ms, overhead_ms

    with running_app() as base_url:
        round_ms, overhead_ms = asyncio.run(go(base_url))
    return {
        "rounds": rounds,
        "endpoints": 6,
        "round_ms_median": statistics.median(round_ms),
        "round_ms_p95": sorted(round_ms)[int(0.95 * (len(round_ms) - 1))],
        "overhead_ms_median": statistics.median(overhead_ms),
        "overhead_ms_p95": sorted(overhead_ms)[int(0.95 * (len(overhead_ms) - 1))],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--json", type=Path, default=Path("bench/results/probe_shipper.json"))
    args = parser.parse_args()
    version = load_settings().kafka.version
    result: dict[str, Any] = {
        "kafka_version": version,
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
    }
    result["parse_lines_per_s"] = bench_parse(args.lines)
    with (
        tempfile.TemporaryDirectory(prefix="forewarn-bench-") as tmp,
        LocalKafka(Path(tmp), port=0, controller_port=0, version=version, die_with_parent=True) as broker,
    ):
        bench_ship(broker.bootstrap, min(5_000, args.lines))  # warm-up: JIT, topic metadata
        result["ship"] = bench_ship(broker.bootstrap, args.lines)
        result["raw_producer_msgs_per_s"] = bench_raw_producer(broker.bootstrap, args.lines)
    result["probe"] = bench_probe(args.rounds)
    result["load_average_after"] = os.getloadavg()

    parse, ship, probe = result["parse_lines_per_s"], result["ship"], result["probe"]
    print(f"{'measurement':<44} {'value':>12}")
    for name, rate in parse.items():
        print(f"{'parse ' + name + ' lines/s':<44} {rate:>12,.0f}")
    print(f"{'ship JSON lines -> Kafka (read back) lines/s':<44} {ship['lines_per_s']:>12,.0f}")
    raw = result["raw_producer_msgs_per_s"]
    print(f"{'  baseline: bare kafka-python send msgs/s':<44} {raw:>12,.0f}")
    counts = f"{ship['delivered']}/{ship['read_back']}/{ship['dropped']}"
    print(f"{'  delivered / read back / dropped':<44} {counts:>12}")
    print(f"{'probe round of 6 endpoints, median ms':<44} {probe['round_ms_median']:>12.1f}")
    print(f"{'probe round of 6 endpoints, p95 ms':<44} {probe['round_ms_p95']:>12.1f}")
    print(f"{'probe client overhead per probe, median ms':<44} {probe['overhead_ms_median']:>12.1f}")
    print(f"{'probe client overhead per probe, p95 ms':<44} {probe['overhead_ms_p95']:>12.1f}")
    print(f"load average before {result['load_average_before']}, after {result['load_average_after']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0 if ship["read_back"] == ship["lines"] else 1


if __name__ == "__main__":
    sys.exit(main())
