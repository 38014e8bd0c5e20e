"""A level shift told from an excursion: a one-sided run that outlasts the seasonal period.

Why: a running detector learns a shift as if it were noise. While its level catches up (a few hundred
events), every residual is large and on one side, so the unit of surprise learned from them (the mean
absolute deviation, and above all the 99th-percentile tail, which falls back 100 times slower than it
rises) grows many times over. For thousands of events after a deploy moved the level, the detector
then sees nothing. This module keeps what the detector knew before such a run, and hands it back once
the run proves to be a new level rather than an incident or a daily swing.

A run starts at a value further than ``units`` units of surprise from what the detector expected, and
holds while each value stays that far on the same side of the expectation as it was at the start
(level and time-of-day profile frozen then, so the catching-up level does not end it). It is a new
level once it has held for one seasonal period (a whole day: no part of a daily cycle lasts that
long), or ``1 / level_alpha`` events without a clock (the level's own memory). By the clock it also
needs the detector's ``warmup`` values (30): two values a day apart on a sparse series (a daily batch
that ran large twice) are no new level, and a run that short has taught the tail little anyway. A
burst that ends earlier leaves everything learned from it in place: the tail should learn bursts.
"""

from __future__ import annotations


class ShiftRun:
    """A one-sided run of far values, and the detector's state from before it began.

    ``saved`` holds the learned dispersion (scale, tail, drift scale, surprise history mean and
    variance) and the recent alert peak, to hand back; ``level`` and ``season`` are the expectation
    the run is measured against, and the profile to hand back with the new level.
    """

    __slots__ = ("count", "level", "saved", "season", "side", "start_t", "total", "unit")

    def __init__(
        self,
        level: float,
        season: list[float],
        unit: float,
        side: int,
        deseasoned: float,
        start_t: float | None,
        saved: tuple[float, float, float, float, float, float],
    ) -> None:
        self.level, self.season, self.unit, self.side = level, season, unit, side
        self.count, self.total = 1, deseasoned
        self.start_t, self.saved = start_t, saved

    def holds(self, value: float, k: int | None, units: float) -> bool:
        """Whether ``value`` (time-of-day bin ``k``) continues the run; if so, count it in."""
        seasonal = self.season[k] if k is not None else 0.0
        residual = value - self.level - seasonal
        if residual * self.side <= units * self.unit:
            return False
        self.count += 1
        self.total += value - seasonal
        return True

    def lasted(self, t: float | None, period: float | None, events: int, at_least: int) -> bool:
        """Whether the run is a new level: one ``period`` long by the clock and ``at_least`` values,
        else ``events`` values long."""
        if period is not None and t is not None and self.start_t is not None:
            return t - self.start_t >= period and self.count >= at_least
        return self.count >= events

    def new_level(self) -> float:
        """The run's mean, without the time-of-day profile it was measured against."""
        return self.total / self.count
