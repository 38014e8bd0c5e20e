"""A least-squares line whose points lose weight exponentially with age: the trend's building block.

Why its own module: ``TrendForecaster`` keeps two of them (a slow one for warnings, a fast one for the
rate), rebuilds the fast one after a change, and each is seven floats that must update in O(1) per
point whatever the sampling interval; that arithmetic is easier to check on its own.
"""

from __future__ import annotations

import math


class DiscountedLine:
    """Least-squares line with exponentially decaying weights in time: seven running sums.

    Time is measured relative to the newest point (tau = t - last_t <= 0), so the fitted level is the
    level *now* and ageing every point is an O(1) update of the sums.
    """

    def __init__(self, halflife_seconds: float) -> None:
        self.halflife_seconds = halflife_seconds
        self.s0 = 0.0
        self.s0sq = 0.0
        self.s1 = 0.0
        self.s2 = 0.0
        self.sy = 0.0
        self.sty = 0.0
        self.syy = 0.0

    def shift(self, dt: float) -> None:
        """Age every point by dt: decay the weights, move the time origin to the new point."""
        w = math.pow(0.5, dt / self.halflife_seconds)
        # old tau' = tau - dt, then scale by w
        s1 = self.s1 - dt * self.s0
        s2 = self.s2 - 2.0 * dt * self.s1 + dt * dt * self.s0
        sty = self.sty - dt * self.sy
        self.s0 *= w
        self.s0sq *= w * w
        self.s1 = s1 * w
        self.s2 = s2 * w
        self.sy *= w
        self.sty = sty * w
        self.syy *= w

    def add(self, y: float) -> None:
        """A point at tau = 0 (s1, s2 and sty gain nothing)."""
        self.s0 += 1.0
        self.s0sq += 1.0
        self.sy += y
        self.syy += y * y

    def n_eff(self) -> float:
        return self.s0 * self.s0 / self.s0sq if self.s0sq > 0 else 0.0

    def line(self, fallback: float) -> tuple[float, float]:
        """(level now, slope per second); ``fallback`` is the level before any point."""
        if self.s0 <= 0:
            return fallback, 0.0
        det = self.s0 * self.s2 - self.s1 * self.s1
        if det <= 1e-12 * max(1.0, self.s0 * self.s2):
            return self.sy / self.s0, 0.0
        slope = (self.s0 * self.sty - self.s1 * self.sy) / det
        level = (self.sy - slope * self.s1) / self.s0
        return level, slope

    def uncertainty(self, level: float, slope: float) -> tuple[float, float, float, float]:
        """(residual variance, var(level), var(slope), cov(level, slope))."""
        if self.s0 <= 0:
            return 0.0, 0.0, 0.0, 0.0
        sse = (
            self.syy
            - 2 * level * self.sy
            - 2 * slope * self.sty
            + level * level * self.s0
            + 2 * level * slope * self.s1
            + slope * slope * self.s2
        )
        n_eff = self.n_eff()
        dof = max(n_eff - 2.0, 1.0)
        sigma2 = max(sse, 0.0) / self.s0 * (n_eff / dof)
        det = self.s0 * self.s2 - self.s1 * self.s1
        if det <= 1e-12 * max(1.0, self.s0 * self.s2):
            return sigma2, sigma2 / max(self.s0, 1e-12), 0.0, 0.0
        # weights act like counts scaled by s0/n_eff: rescale so a short memory means wider intervals
        scale = self.s0 / max(n_eff, 1e-12)
        var_level = sigma2 * self.s2 / det * scale
        var_slope = sigma2 * self.s0 / det * scale
        cov = -sigma2 * self.s1 / det * scale
        return sigma2, var_level, var_slope, cov


__all__ = ["DiscountedLine"]
