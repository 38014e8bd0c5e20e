"""The store sink: reads the output topics from Kafka and upserts them into the store.

Why it commits offsets only after the rows are written: Kafka then redelivers anything the sink
did not finish (at-least-once), and the store's upserts by id turn every redelivery into a no-op, so
the end result is exactly-once rows. A message that cannot be a record is counted and skipped; the
sink never stops for bad input. The consumer is injected, so tests drive it with a real broker; how it
is built and the poll/write/commit order are ``forewarn.kafka.consume``'s, shared with the responder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from forewarn.kafka.consume import ConsumeLoop, Consumer
from forewarn.kafka.consume import make_consumer as make_kafka_consumer
from forewarn.settings import Settings
from forewarn.store.db import Store
from forewarn.store.records import Kind, RecordError, Row, parse_record

__all__ = ["SinkStats", "StoreSink", "make_consumer", "topic_kinds"]

log = logging.getLogger(__name__)


class Message(Protocol):
    """What the sink needs from a kafka-python ``ConsumerRecord``."""

    @property
    def topic(self) -> str: ...

    @property
    def offset(self) -> int: ...

    @property
    def value(self) -> bytes | None: ...


@dataclass
class SinkStats:
    """Running totals, per kind: written rows (including re-deliveries) and rejected messages."""

    written: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rejected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_error: str | None = None


def topic_kinds(settings: Settings) -> dict[str, Kind]:
    """Which kind of record each consumed topic carries."""
    t = settings.topics
    return {
        t.probes: Kind.PROBE,
        t.detections: Kind.DETECTION,
        t.forecasts: Kind.FORECAST,
        t.incidents: Kind.INCIDENT,
        t.actions: Kind.ACTION,
    }


def make_consumer(settings: Settings, topics: Sequence[str], **overrides: Any) -> Any:
    """The shared consumer (``forewarn.kafka.consume``) in the store's own group, from the earliest offset.

    Earliest, because the store is a materialised view: a new store should catch up on what the topics
    still hold, and re-reading is harmless (idempotent upserts).
    """
    overrides.setdefault("group_id", settings.store.consumer_group)
    return make_kafka_consumer(settings, topics, client="store", from_beginning=True, **overrides)


class StoreSink:
    """Poll → parse → upsert → commit, batch by batch, until :meth:`stop`."""

    def __init__(
        self,
        store: Store,
        consumer: Consumer,
        kinds: Mapping[str, Kind],
        *,
        retention_seconds: float | None = None,
        purge_every_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        on_batch: Callable[[SinkStats], None] | None = None,
    ) -> None:
        self.store = store
        self.consumer = consumer
        self.kinds = dict(kinds)
        self.stats = SinkStats()
        self._retention = retention_seconds
        self._purge_every = purge_every_seconds
        self._clock = clock
        self._last_purge = clock()
        self._stop = threading.Event()
        self._on_batch = on_batch
        # Write the batch, commit, then (every step) the retention check: the shared loop's order.
        self._loop = ConsumeLoop(
            consumer,
            handle_batch=self.handle,
            tick=self._maybe_purge,
            tick_seconds=0.0,
            poll_ms=500,
            max_records=500,
            now=clock,
        )

    def stop(self) -> None:
        self._stop.set()

    def run(self, *, max_seconds: float | None = None) -> SinkStats:
        """Consume until stopped (or ``max_seconds`` pass); closes nothing it did not open."""
        self._loop.run(self._stop, max_seconds=max_seconds)
        return self.stats

    def poll_once(self, timeout_ms: int = 500) -> int:
        """One batch; returns how many messages it handled."""
        return self._loop.step(timeout_ms)

    def handle(self, messages: Iterable[Message]) -> None:
        """Parse and upsert a batch (grouped by kind), then record per-topic meta-monitoring."""
        by_kind: dict[Kind, list[tuple[Row, dict[str, Any]]]] = defaultdict(list)
        per_topic: dict[str, dict[str, Any]] = {}
        for message in messages:
            kind = self.kinds.get(message.topic)
            seen = per_topic.setdefault(
                message.topic, {"messages": 0, "rejected": 0, "last_offset": None, "last_event_ts": None}
            )
            seen["messages"] += 1
            seen["last_offset"] = message.offset
            if kind is None:
                continue
            try:
                view, payload = parse_record(kind, message.value or b"")
            except RecordError as error:
                seen["rejected"] += 1
                self.stats.rejected[kind.value] += 1
                self.stats.last_error = f"{message.topic}@{message.offset}: {error}"
                log.warning("store sink skipped %s", self.stats.last_error)
                continue
            by_kind[kind].append((view, payload))
            ts = view.timestamp.timestamp()
            seen["last_event_ts"] = ts if seen["last_event_ts"] is None else max(seen["last_event_ts"], ts)
        for kind, records in by_kind.items():
            self.stats.written[kind.value] += self.store.upsert(kind, records)
        for topic, seen in per_topic.items():
            self.store.record_topic(topic, **seen)
        if self._on_batch is not None:
            self._on_batch(self.stats)

    def _maybe_purge(self) -> None:
        if self._retention is None or self._clock() - self._last_purge < self._purge_every:
            return
        self._last_purge = self._clock()
        deleted = self.store.purge(self._retention)
        if any(deleted.values()):
            log.info("store retention removed %s", deleted)
