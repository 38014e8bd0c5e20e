"""A token bucket per caller, in memory: ``burst`` calls at once, then ``per_minute`` per minute.

Why a bucket per key: a runaway client (or a stolen key) gets a few quick calls, then 429 with
``Retry-After``, instead of hammering the store or restarting a service in a loop; other keys are not
slowed by it. Why in memory: one process serves each API, and a restart forgiving every caller is
harmless. The buckets are bounded (least recently used dropped first) so callers that come and go,
e.g. addresses sending wrong keys, cannot grow the table without end.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

__all__ = ["RateLimiter", "retry_after_header"]


class RateLimiter:
    """A token bucket per key: ``burst`` calls at once, refilled at ``per_minute`` per minute."""

    def __init__(self, per_minute: float, burst: int, *, max_keys: int = 10_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key_id: str, now: float) -> float | None:
        """Take one token; returns None if allowed, else the seconds to wait (for Retry-After)."""
        with self._lock:
            tokens, last = self._buckets.pop(key_id, (self.burst, now))
            tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[key_id] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return None if allowed else (1.0 - tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, at least 1 (a 0 would invite an immediate retry)."""
    return str(max(1, math.ceil(seconds)))
