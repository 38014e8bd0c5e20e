"""Follow forewarn's output topics in a background thread and keep what a screen needs.

Why a separate class: the demo (and later any console) shows probes, detections, forecasts,
incidents and actions as they happen. Reading Kafka off the display loop keeps the screen smooth,
and keeping the records in one place makes the run's JSON summary the same data the screen showed.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer

from forewarn.kafka.client_config import kafka_python_config, kafka_settings
from forewarn.settings import KafkaSettings


@dataclass
class Seen:
    """One record read from a topic, with the wall time we saw it."""

    topic: str
    key: str | None
    value: dict[str, Any]
    seen_at: float


@dataclass
class TopicWatcher:
    """Reads ``topics`` from the beginning (no consumer group) until ``stop()``."""

    bootstrap: KafkaSettings | str  # the demo's own broker: a plaintext host:port
    topics: Sequence[str]
    clock: Callable[[], float] = time.time
    records: dict[str, list[Seen]] = field(default_factory=lambda: defaultdict(list))
    undecodable: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="topic-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def snapshot(self, topic: str) -> list[Seen]:
        with self._lock:
            return list(self.records.get(topic, []))

    def window(self, start: float, end: float) -> TopicWatcher:
        """A stopped copy holding only what was seen in [start, end]: one run of a longer session."""
        view = TopicWatcher(self.bootstrap, self.topics, self.clock)
        with self._lock:
            for topic, seen in self.records.items():
                view.records[topic] = [s for s in seen if start <= s.seen_at <= end]
        return view

    def count(self, topic: str) -> int:
        with self._lock:
            return len(self.records.get(topic, []))

    def _run(self) -> None:
        try:
            consumer = KafkaConsumer(
                *self.topics,
                **kafka_python_config(kafka_settings(self.bootstrap)),
                client_id="forewarn-watch",
                group_id=None,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                fetch_max_wait_ms=100,
                metadata_max_age_ms=2000,  # notice topics created after we started
            )
        except Exception as exc:  # the display shows it; the run goes on
            self.error = f"cannot read topics: {exc}"
            return
        try:
            while not self._stop.is_set():
                batch = consumer.poll(timeout_ms=200)
                now = self.clock()
                for partition_records in batch.values():
                    for record in partition_records:
                        self._keep(record.topic, record.key, record.value, now)
        finally:
            consumer.close()

    def _keep(self, topic: str, key: bytes | None, value: bytes | None, now: float) -> None:
        try:
            document = json.loads(value or b"")
        except (ValueError, UnicodeDecodeError):
            self.undecodable += 1
            return
        if not isinstance(document, dict):
            self.undecodable += 1
            return
        seen = Seen(topic, key.decode(errors="replace") if key else None, document, now)
        with self._lock:
            self.records[topic].append(seen)
