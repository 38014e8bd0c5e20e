"""Two-sided Page-Hinkley (CUSUM) change test on standardised residuals, with where the change began.

Why here: ``TrendForecaster`` must notice that a gauge left its old regime (a flat pool starts to
leak) within a few points, and know *from which point on* to refit, so the time to exhaustion follows
the new rate instead of averaging the old one in. The classic CUSUM answers both: the cumulative sum
of residuals beyond a drift allowance crosses a threshold after a few points of a real shift (and
rarely on noise), and the last time that sum was zero estimates the change point.
"""

from __future__ import annotations


class PageHinkley:
    """Feed standardised residuals (z-scores); ``update`` returns the start index of a detected change.

    ``drift`` (k) is the shift per point the test ignores, ``threshold`` (h) the evidence it needs,
    both in residual standard deviations. After an alarm both sums restart from zero.
    """

    def __init__(self, drift: float = 0.5, threshold: float = 5.0) -> None:
        if drift < 0 or threshold <= 0:
            raise ValueError(f"drift >= 0 and threshold > 0 required, got {drift}, {threshold}")
        self.drift = drift
        self.threshold = threshold
        self.up = 0.0
        self.down = 0.0
        self.up_start = 0
        self.down_start = 0

    def update(self, z: float, index: int) -> int | None:
        """One residual (of point ``index``); the index where the change began, or None."""
        if self.up == 0.0:
            self.up_start = index
        if self.down == 0.0:
            self.down_start = index
        self.up = max(0.0, self.up + z - self.drift)
        self.down = max(0.0, self.down - z - self.drift)
        if self.up <= self.threshold and self.down <= self.threshold:
            return None
        start = self.up_start if self.up > self.threshold else self.down_start
        self.up = self.down = 0.0
        return start


__all__ = ["PageHinkley"]
