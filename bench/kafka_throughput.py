"""Produce and read-back throughput of forewarn's kafka-python helpers against the local broker.

Why: probes, the log shipper and the tests all go through ``make_producer``/``read_topic``; this
says how much telemetry one Python process can push, and whether the broker's fast-start tuning
(C1-only JIT) costs throughput. Messages are ProbeResult-sized JSON (~300 bytes), keyed by service.

Usage: ``python bench/kafka_throughput.py [--messages 50000] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from forewarn.dev.broker import LocalKafka
from forewarn.kafka.io import ensure_topics, make_producer, read_topic
from forewarn.settings import KafkaSettings, Settings, load_settings

SERVICES = ["auth", "database", "email", "sms", "payments", "overall"]


def _payload(i: int) -> str:
    service = SERVICES[i % len(SERVICES)]
    return json.dumps(
        {
            "schema_version": 1,
            "service": service,
            "endpoint": f"http://127.0.0.1:8080/api/health/{service}",
            "timestamp": "2026-11-25T17:00:00.000000+00:00",
            "latency_ms": 12.5 + i % 100,
            "status_code": 200,
            "ok": True,
            "details": {"pool_in_use": i % 20, "pool_size": 20, "memory_mb": 312.4, "provider": "primary"},
        }
    )


def measure(bootstrap: str, messages: int, label: str) -> dict[str, Any]:
    topic = f"bench.throughput.{label}.{os.getpid()}"
    ensure_topics(bootstrap, [topic], partitions=3)
    payloads = [(SERVICES[i % len(SERVICES)], _payload(i)) for i in range(messages)]
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap))
    with make_producer(settings) as producer:
        started = time.monotonic()
        for key, value in payloads:
            producer.send(topic, key=key, value=value)
        producer.flush()
        produce_seconds = time.monotonic() - started
    started = time.monotonic()
    records = read_topic(bootstrap, topic, timeout=300)
    read_seconds = time.monotonic() - started
    if len(records) != messages:
        raise RuntimeError(f"read back {len(records)} of {messages} messages")
    return {
        "messages": messages,
        "bytes_per_message": round(sum(len(v) for _, v in payloads) / messages),
        "produce_msgs_per_s": round(messages / produce_seconds),
        "read_msgs_per_s": round(messages / read_seconds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--json", type=Path, default=Path("bench/results/kafka_throughput.json"))
    args = parser.parse_args()
    version = load_settings().kafka.version
    result: dict[str, Any] = {"kafka_version": version, "load_average_before": os.getloadavg(), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="forewarn-bench-") as tmp:
        for label, fast_start in (("c1-only", True), ("full-jit", False)):
            broker = LocalKafka(
                Path(tmp) / label,
                port=0,
                controller_port=0,
                version=version,
                fast_start=fast_start,
                die_with_parent=True,
            )
            with broker:
                measure(broker.bootstrap, min(5_000, args.messages), f"{label}-warmup")
                result["runs"][label] = measure(broker.bootstrap, args.messages, label)
    result["load_average_after"] = os.getloadavg()
    print(f"kafka-python -> Kafka {version}, {args.messages} messages, load {result['load_average_before']}")
    print(f"{'broker JIT':<10} {'bytes/msg':>9} {'produce msg/s':>14} {'read msg/s':>11}")
    for label, row in result["runs"].items():
        print(
            f"{label:<10} {row['bytes_per_message']:>9} {row['produce_msgs_per_s']:>14} "
            f"{row['read_msgs_per_s']:>11}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
