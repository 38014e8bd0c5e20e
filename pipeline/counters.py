"""A cumulative counter's readings -> its rate per second, the number a detector can learn.

Why: a running total (``http_requests_total``) only grows, so each new value lies past every value
a detector has seen, and a range-based model alerts at each crossing. Its rate is the signal: steady
while traffic is, spiking when it does. This is what Prometheus' ``rate()`` does, reset rule
included: a reading below the last one means the counter restarted from zero (the process
restarted), so the increase is the new reading itself.

A series keeps one :class:`CounterReading` (two floats) in its state and its recovery snapshot.

>>> first = counter_rate(None, 100.0, 0.0)
>>> first
(None, CounterReading(value=100.0, t=0.0))
>>> counter_rate(first[1], 160.0, 30.0)[0]
2.0
>>> counter_rate(CounterReading(160.0, 30.0), 15.0, 60.0)[0]  # restarted: 15 since the reset
0.5
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CounterReading", "counter_rate"]


class CounterReading(NamedTuple):
    """The last reading of a counter: its value and its event time (epoch seconds)."""

    value: float
    t: float


def counter_rate(last: CounterReading | None, value: float, t: float) -> tuple[float | None, CounterReading]:
    """The rate since ``last`` (None for the first reading or one at the same instant), and the new last.

    A reading at the same instant as the last (a resend) keeps the earlier one, so a duplicate
    neither moves the baseline nor divides by zero.
    """
    if last is None:
        return None, CounterReading(value, t)
    elapsed = t - last.t
    if elapsed <= 0.0:
        return None, last
    increase = value - last.value if value >= last.value else value
    return increase / elapsed, CounterReading(value, t)
