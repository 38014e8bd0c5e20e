"""Injected time, so tests can drive minutes of budgets and cool-downs in milliseconds.

Every guard, validation loop and escalation ladder reads time through a ``Clock``; nothing in
``forewarn.healing`` calls ``time.time()`` or ``time.sleep()`` directly.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Wall-clock seconds since the epoch, and a way to wait."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to; ``sleep`` advances it instantly (simulated time)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def iso(epoch_seconds: float) -> str:
    """UTC ISO 8601 with microseconds, the one timestamp format the audit log uses."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat()


__all__ = ["Clock", "ManualClock", "SystemClock", "iso"]
