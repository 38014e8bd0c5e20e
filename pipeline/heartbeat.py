"""A source wrapper that records a heartbeat on every poll, can end the input on request, and can
hand each poll over as one micro-batch.

Why a heartbeat: "last event time" cannot tell a quiet service from a stuck dataflow. Bytewax polls
each input partition continuously (many times a second even when idle), so the wall clock of the
last poll is a liveness signal that goes stale only when the dataflow itself stops progressing.

Why a stop event: raising KeyboardInterrupt inside Bytewax surfaces as a runtime error from
whatever Python step was running. Ending the input instead (each partition reports EOF at its next
poll) lets the flow drain in-flight items, flush its sinks, close its consumers and return normally.

Why micro-batches: Bytewax costs a few microseconds per item per operator (a Python call, a
reference moved through Rust); the flow has a dozen operators, so per message that was a sizeable
share of the work. A poll of the Kafka source is already a batch (up to ``pipeline.batch_size``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Generic, TypeVar

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

X = TypeVar("X")
S = TypeVar("S")

__all__ = ["HeartbeatSource"]


class _HeartbeatPartition(StatefulSourcePartition[Any, S], Generic[X, S]):
    def __init__(
        self,
        inner: StatefulSourcePartition[X, S],
        beat: Callable[[], None],
        stop: threading.Event | None,
        batched: bool = False,
    ) -> None:
        self._inner = inner
        self._beat = beat
        self._stop = stop
        self._batched = batched

    def next_batch(self) -> Iterable[X] | Iterable[list[X]]:
        if self._stop is not None and self._stop.is_set():
            raise StopIteration
        self._beat()
        batch = self._inner.next_batch()
        if not self._batched:
            return batch
        items = batch if isinstance(batch, list) else list(batch)
        return [items] if items else []

    def next_awake(self) -> datetime | None:
        return self._inner.next_awake()

    def snapshot(self) -> S:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class HeartbeatSource(FixedPartitionedSource[Any, S], Generic[X, S]):
    """Delegates everything to ``inner``; calls ``beat()`` before each poll; EOF once ``stop`` is set.

    ``batched``: each poll's items go downstream as one item, a list (the dataflow's micro-batch:
    every operator then runs once per poll, not once per message).
    """

    def __init__(
        self,
        inner: FixedPartitionedSource[X, S],
        beat: Callable[[], None],
        stop: threading.Event | None = None,
        *,
        batched: bool = False,
    ) -> None:
        self._inner = inner
        self._beat = beat
        self._stop = stop
        self._batched = batched

    def list_parts(self) -> list[str]:
        return self._inner.list_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: S | None) -> _HeartbeatPartition[X, S]:
        inner = self._inner.build_part(step_id, for_part, resume_state)
        return _HeartbeatPartition(inner, self._beat, self._stop, self._batched)
