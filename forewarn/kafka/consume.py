"""The one Kafka consumer of forewarn's processes: how it is built, and the at-least-once loop.

Why one module: the responder (``forewarn respond``) and the store sink (``forewarn api``) both read
Kafka, act, and must not lose a message to a crash. Where the consumer's options come from (group id,
offsets, client id, TLS and SASL) and the order that makes delivery safe are easy to get subtly
wrong, so both live here once:

1. poll a batch and hand every message to ``handle`` in order (or the whole batch to
   ``handle_batch``, for a sink that writes rows in bulk);
2. after a non-empty batch, flush (what the batch caused is on the broker or in the store), *then*
   commit the offsets: a crash before the commit re-delivers the batch, and the callers' idempotency
   keys (healing steps, incident seen-ids, store upserts by id) make the second delivery harmless;
3. every ``tick_seconds`` of ``now()`` run the time-driven work (escalation, approval expiry,
   operator requests, resolving quiet incidents, retention) and flush what it published.

The broker going away must not stop the loop: every call that waits on it is bounded
(``kafka_timeout_ms``), and a Kafka error from a poll, a commit or a position is logged and the loop
goes on. A commit that failed is not retried by itself: the next batch's commit covers its offsets,
and a restart before that re-reads the batch (harmless, as above).

``now`` is injected so a simulated clock (the healing executor's) can drive the ticks in tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from forewarn.kafka.client_config import kafka_python_config
from forewarn.settings import Settings

__all__ = ["ConsumeLoop", "Consumer", "LoopStats", "consume_until", "make_consumer"]

log = logging.getLogger(__name__)


class Consumer(Protocol):
    """The two kafka-python ``KafkaConsumer`` calls the loop needs."""

    def poll(self, timeout_ms: int = ..., max_records: int | None = ...) -> Any: ...

    def commit(self, offsets: Any = ..., timeout_ms: int | None = ...) -> Any: ...


def make_consumer(
    settings: Settings,
    topics: Sequence[str],
    *,
    group_id: str,
    client: str,
    from_beginning: bool = True,
    assign: bool = False,
    **overrides: Any,
) -> Any:
    """A kafka-python consumer from settings: manual commits, in ``group_id``, as ``<client_id>-<client>``.

    ``from_beginning`` chooses where a group without committed offsets starts. ``assign`` takes every
    partition of ``topics`` explicitly instead of subscribing: no rebalance can leave a process that
    must be the only one of its group (the responder) with no partitions, and the committed offsets
    still say where to resume.
    """
    from kafka import KafkaConsumer

    options: dict[str, Any] = {
        **kafka_python_config(settings.kafka),
        "client_id": f"{settings.kafka.client_id}-{client}",
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest" if from_beginning else "latest",
    }
    options.update(overrides)
    if not assign:
        return KafkaConsumer(*topics, **options)
    consumer = KafkaConsumer(**options)
    consumer.assign(_partitions(consumer, list(topics)))
    return consumer


def _partitions(consumer: Any, names: list[str], timeout: float = 30.0) -> list[Any]:
    from kafka import TopicPartition

    deadline = time.monotonic() + timeout
    found: list[TopicPartition] = []
    for name in names:
        while not (ids := consumer.partitions_for_topic(name)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {name} has no partitions after {timeout:.0f} s")
            time.sleep(0.2)
        found.extend(TopicPartition(name, i) for i in sorted(ids))
    return found


@dataclass
class LoopStats:
    """What one run of the loop did (for the process's exit line and tests)."""

    messages: int = 0
    batches: int = 0
    ticks: int = 0
    kafka_errors: int = 0  # polls, commits and positions that failed (logged; the loop went on)


class ConsumeLoop:
    """Poll, handle, flush, commit, tick: one :meth:`step` at a time, or :meth:`run` until stopped."""

    def __init__(
        self,
        consumer: Consumer,
        handle: Callable[[str, bytes | None], object] | None = None,
        *,
        handle_batch: Callable[[list[Any]], object] | None = None,
        flush: Callable[[], object] | None = None,
        tick: Callable[[], object] | None = None,
        tick_seconds: float = 5.0,
        poll_ms: int = 250,
        max_records: int | None = None,
        now: Callable[[], float] = time.monotonic,
        kafka_timeout_ms: int = 10_000,
        error_pause: Callable[[], object] = lambda: time.sleep(1.0),
    ) -> None:
        self.consumer = consumer
        self.stats = LoopStats()
        self._handle = handle
        self._handle_batch = handle_batch
        self._flush = flush
        self._tick = tick
        self._tick_seconds = tick_seconds
        self._poll_ms = poll_ms
        self._max_records = max_records
        self._now = now
        self._kafka_timeout_ms = kafka_timeout_ms
        self._error_pause = error_pause
        self._next_tick: float | None = None
        self._marked: set[Any] = set()  # partitions whose position has been committed at least once

    def step(self, poll_ms: int | None = None) -> int:
        """One poll and what follows it; returns how many messages it handled."""
        if self._next_tick is None:
            self._next_tick = self._now()
        batch = self.consumer.poll(
            timeout_ms=self._poll_ms if poll_ms is None else poll_ms, max_records=self._max_records
        )
        messages = [message for messages in batch.values() for message in messages]
        if self._handle is not None:
            for message in messages:
                self._handle(message.topic, message.value)
                self.stats.messages += 1
        else:
            self.stats.messages += len(messages)
        if messages:
            if self._handle_batch is not None:
                self._handle_batch(messages)
            self.stats.batches += 1
            if self._flush is not None:
                self._flush()
            self._commit(None)
        self._mark_new_partitions()
        if self._tick is not None and self._now() >= self._next_tick:
            self._tick()
            self.stats.ticks += 1
            if self._flush is not None:
                self._flush()
            self._next_tick = self._now() + self._tick_seconds
        return len(messages)

    def _mark_new_partitions(self) -> None:
        """Commit the position of each newly assigned partition once, read from or not.

        Why: kafka-python commits only the partitions it has returned records from. A partition
        whose first messages arrive while this process is down then has no commit at all, and a
        lag check from outside (``forewarn watchdog``) cannot see the work waiting there. Called
        after the batch is handled, so a position never runs ahead of what was handled.
        """
        assignment = getattr(self.consumer, "assignment", None)
        if assignment is None:
            return
        current = set(assignment())
        new = current - self._marked
        if not new:
            return
        from kafka.errors import KafkaError
        from kafka.structs import OffsetAndMetadata

        consumer: Any = self.consumer
        offsets = {}
        for tp in new:
            try:
                position = consumer.position(tp, timeout_ms=self._kafka_timeout_ms)
            except KafkaError as error:  # not reachable now, or no longer ours: try next step
                self._kafka_error(f"position of {tp}", error)
                continue
            if position is not None:
                offsets[tp] = OffsetAndMetadata(position, "", -1)
        if offsets and self._commit(offsets):
            self._marked = (self._marked & current) | set(offsets)

    def _commit(self, offsets: dict[Any, Any] | None) -> bool:
        """Commit (the consumed positions, or ``offsets``) within the timeout; False when it failed."""
        from kafka.errors import KafkaError

        try:
            if offsets is None:
                self.consumer.commit(timeout_ms=self._kafka_timeout_ms)
            else:
                self.consumer.commit(offsets, timeout_ms=self._kafka_timeout_ms)
        except KafkaError as error:
            self._kafka_error("commit", error)
            return False
        return True

    def _kafka_error(self, what: str, error: Exception) -> None:
        self.stats.kafka_errors += 1
        log.warning("Kafka %s failed, going on: %s: %s", what, type(error).__name__, error)

    def run(self, stop: threading.Event, *, max_seconds: float | None = None) -> LoopStats:
        """Step until ``stop`` is set (or ``max_seconds`` of ``now()`` pass); returns what it did."""
        from kafka.errors import KafkaError

        deadline = None if max_seconds is None else self._now() + max_seconds
        while not stop.is_set() and (deadline is None or self._now() < deadline):
            try:
                self.step()
            except KafkaError as error:  # e.g. a poll while the group cannot be joined
                self._kafka_error("poll", error)
                self._error_pause()
        return self.stats


def consume_until(
    stop: threading.Event,
    consumer: Consumer,
    handle: Callable[[str, bytes | None], object],
    **options: Any,
) -> LoopStats:
    """Poll, handle, flush, commit, tick, until ``stop`` is set (see :class:`ConsumeLoop`)."""
    return ConsumeLoop(consumer, handle, **options).run(stop)
