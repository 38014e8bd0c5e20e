"""How fast our producers push to Kafka: ``KafkaPublisher``, the log shipper on it, bare kafka-python.

Why three figures: the shipper's rate is the publisher's rate minus parsing; the publisher's is the
client's minus our buffer's bookkeeping. Apart, they say which layer a slow rate comes from.
Every figure counts from the first send to the acknowledgement of the last (``flush``), on a topic
whose metadata the producer already has (one message sent and acknowledged first).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from forewarn.collect.shipper import LogShipper
from forewarn.kafka.io import ensure_topics
from forewarn.kafka.publisher import KafkaPublisher, kafka_producer_factory

__all__ = ["measure_publishers"]


def _log_line(i: int) -> str:
    """A line as the demo app writes it (JSON, ~250 bytes)."""
    return json.dumps(
        {
            "timestamp": datetime.now(UTC).isoformat(),
            "level": "ERROR" if i % 50 == 0 else "INFO",
            "logger": "musobuddy.http",
            "message": f"GET /api/health/database 200 {20 + i % 30}.9 ms",
            "service": "musobuddy",
            "path": "/api/health/database",
            "status_code": 200,
        }
    )


def _topic(bootstrap: str, name: str) -> str:
    topic = f"bench.publisher.{os.getpid()}.{name}"
    ensure_topics(bootstrap, [topic], partitions=3)
    return topic


def _publisher(bootstrap: str, topic: str, size: int) -> KafkaPublisher:
    publisher = KafkaPublisher(kafka_producer_factory(bootstrap, "forewarn-bench"), buffer_size=size)
    publisher.publish(topic, "musobuddy", b"{}")
    publisher.flush(30)
    return publisher


def measure_publishers(bootstrap: str, messages: int, advance: Callable[[int], None]) -> dict[str, Any]:
    lines = [_log_line(i) for i in range(messages)]
    values = [line.encode() for line in lines]

    topic = _topic(bootstrap, "publisher")
    publisher = _publisher(bootstrap, topic, messages + 1)
    started = time.perf_counter()
    for value in values:
        publisher.publish(topic, "musobuddy", value)
    publisher.flush(120)
    publish_seconds = time.perf_counter() - started
    delivered = publisher.stats().delivered - 1
    publisher.close()
    advance(1)

    topic = _topic(bootstrap, "shipper")
    publisher = _publisher(bootstrap, topic, messages + 1)
    shipper = LogShipper(publisher, "musobuddy", topic)
    started = time.perf_counter()
    shipped = shipper.ship_lines(lines)  # parses each line, publishes, flushes at the end
    ship_seconds = time.perf_counter() - started
    publisher.close()
    advance(1)

    topic = _topic(bootstrap, "bare")
    producer = kafka_producer_factory(bootstrap, "forewarn-bench-bare")()
    producer.send(topic, value=b"{}", key=b"musobuddy")
    producer.flush(30)
    started = time.perf_counter()
    for value in values:
        producer.send(topic, value=value, key=b"musobuddy")
    producer.flush(120)
    bare_seconds = time.perf_counter() - started
    producer.close(10)
    advance(1)

    if delivered != messages or shipped != messages:
        raise RuntimeError(f"publisher delivered {delivered}, shipper shipped {shipped} of {messages}")
    return {
        "publisher_messages_per_second": round(messages / publish_seconds),
        "shipper_lines_per_second": round(messages / ship_seconds),
        "kafka_python_send_per_second": round(messages / bare_seconds),
        "publisher_bytes_per_message": round(sum(map(len, values)) / messages),
    }
