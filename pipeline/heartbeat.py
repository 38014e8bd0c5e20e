"""A source wrapper that records a heartbeat every time the dataflow polls its input.

Why: "last event time" cannot tell a quiet service from a stuck dataflow. Bytewax polls each input
partition continuously (a few times a second even when idle), so the wall clock of the last poll is
a liveness signal that goes stale only when the dataflow itself stops making progress.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Generic, TypeVar

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

X = TypeVar("X")
S = TypeVar("S")

__all__ = ["HeartbeatSource"]


class _HeartbeatPartition(StatefulSourcePartition[X, S], Generic[X, S]):
    def __init__(self, inner: StatefulSourcePartition[X, S], beat: Callable[[], None]) -> None:
        self._inner = inner
        self._beat = beat

    def next_batch(self) -> Iterable[X]:
        self._beat()
        return self._inner.next_batch()

    def next_awake(self) -> datetime | None:
        return self._inner.next_awake()

    def snapshot(self) -> S:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class HeartbeatSource(FixedPartitionedSource[X, S], Generic[X, S]):
    """Delegates everything to ``inner``; calls ``beat()`` before each poll."""

    def __init__(self, inner: FixedPartitionedSource[X, S], beat: Callable[[], None]) -> None:
        self._inner = inner
        self._beat = beat

    def list_parts(self) -> list[str]:
        return self._inner.list_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: S | None) -> _HeartbeatPartition[X, S]:
        return _HeartbeatPartition(self._inner.build_part(step_id, for_part, resume_state), self._beat)
