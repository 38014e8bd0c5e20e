"""The one at-least-once consumer loop behind ``forewarn respond`` and ``forewarn heal run``.

Why one loop: both processes read Kafka, act, publish what follows and must not lose a message to a
crash. The order that makes that true is easy to get subtly wrong, so it lives here once:

1. poll a batch and hand every message to ``handle`` in order;
2. after a non-empty batch, flush the producer (what the batch caused is on the broker), *then*
   commit the offsets: a crash before the commit re-delivers the batch, and the callers' idempotency
   keys (healing steps, incident seen-ids) make the second delivery harmless;
3. every ``tick_seconds`` of ``now()`` run the time-driven work (escalation, approval expiry,
   resolving quiet incidents) and flush what it published.

``now`` is injected so a simulated clock (the healing executor's) can drive the ticks in tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["LoopStats", "consume_until"]


class Consumer(Protocol):
    """The two kafka-python ``KafkaConsumer`` calls the loop needs."""

    def poll(self, timeout_ms: int = ..., max_records: int | None = ...) -> dict[Any, list[Any]]: ...

    def commit(self) -> Any: ...


@dataclass
class LoopStats:
    """What one run of the loop did (for the process's exit line and tests)."""

    messages: int = 0
    batches: int = 0
    ticks: int = 0


def consume_until(
    stop: threading.Event,
    consumer: Consumer,
    handle: Callable[[str, bytes | None], object],
    *,
    flush: Callable[[], object] | None = None,
    tick: Callable[[], object] | None = None,
    tick_seconds: float = 5.0,
    poll_ms: int = 250,
    max_records: int | None = None,
    now: Callable[[], float] = time.monotonic,
) -> LoopStats:
    """Poll, handle, flush, commit, tick, until ``stop`` is set; returns what it did."""
    stats = LoopStats()
    next_tick = now()
    while not stop.is_set():
        batch = consumer.poll(timeout_ms=poll_ms, max_records=max_records)
        for messages in batch.values():
            for message in messages:
                handle(message.topic, message.value)
                stats.messages += 1
        if batch:
            stats.batches += 1
            if flush is not None:
                flush()
            consumer.commit()
        if tick is not None and now() >= next_tick:
            tick()
            stats.ticks += 1
            if flush is not None:
                flush()
            next_tick = now() + tick_seconds
    return stats
