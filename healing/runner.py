"""``forewarn heal run``: consume triggers from Kafka, hand them to the executor, publish the actions.

Why commit after handling: the executor is idempotent (incident + action + step keys persisted in
SQLite), so at-least-once delivery is safe: a message re-delivered after a crash finds its steps
already claimed and yields ``duplicate`` records instead of a second action.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from forewarn.healing.executor import HealingExecutor
from forewarn.healing.inputs import to_trigger
from forewarn.healing.records import ActionDecision
from forewarn.kafka.consume import Consumer, consume_until

log = logging.getLogger(__name__)


class _Producer(Protocol):
    def send(self, topic: str, value: Any = ..., key: Any = ...) -> Any: ...

    def flush(self, timeout: float | None = ...) -> None: ...


@dataclass
class RunnerStats:
    messages: int = 0
    triggers: int = 0
    ignored: int = 0
    records: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


class HealingRunner:
    def __init__(
        self,
        executor: HealingExecutor,
        consumer: Consumer,
        producer: _Producer | None,
        sources: dict[str, str],
        actions_topic: str,
        on_record: Callable[[ActionDecision], None] | None = None,
    ) -> None:
        """``sources`` maps topic name to source kind (detection, forecast, incident)."""
        self.executor = executor
        self.consumer = consumer
        self.producer = producer
        self.sources = sources
        self.actions_topic = actions_topic
        self.on_record = on_record
        self.stats = RunnerStats()

    def process(self, topic: str, value: bytes | None) -> list[ActionDecision]:
        self.stats.messages += 1
        source = self.sources.get(topic)
        if source is None or value is None:
            self.stats.ignored += 1
            return []
        trigger = to_trigger(source, value)
        if isinstance(trigger, str):
            self.stats.ignored += 1
            log.warning("healing: ignored a message on %s: %s", topic, trigger)
            return []
        self.stats.triggers += 1
        records = self.executor.handle(trigger)
        for record in records:
            self.stats.records += 1
            self.stats.by_status[record.status] = self.stats.by_status.get(record.status, 0) + 1
            if self.producer is not None:
                self.producer.send(
                    self.actions_topic, value=record.to_event().to_json_bytes(), key=record.service
                )
            if self.on_record is not None:
                self.on_record(record)
        return records

    def run(self, stop: threading.Event, poll_ms: int = 500, tick_seconds: float = 5.0) -> RunnerStats:
        """The shared at-least-once loop (``forewarn.kafka.consume``), ticking on the executor's clock."""
        producer = self.producer
        consume_until(
            stop,
            self.consumer,
            self.process,
            flush=(lambda: producer.flush(timeout=10)) if producer is not None else None,
            tick=self.executor.tick,
            tick_seconds=tick_seconds,
            poll_ms=poll_ms,
            max_records=100,
            now=self.executor.clock.now,
        )
        return self.stats


__all__ = ["HealingRunner", "RunnerStats"]
