"""The dataflow's default detector: ``LikelihoodDetector`` plus Numenta's record ("spatial") rule.

Why these two: the likelihood detector asks how far a value is from the learned level, season and
scale, in units of the series' own surprise, so it is scale-free and needs no range; its weak spot
is the first excursion past everything seen before on a series whose scale has just been learned
from calm data (the tail unit and the likelihood still say "a few units"). The record rule is the
other view: a value beyond every value learned so far by more than ``record_tolerance`` of the span
between the extremes scores 1.0. It is the rule of Numenta's HTM detector for NAB
(``SPATIAL_TOLERANCE = 0.05`` in ``nab/detectors/numenta/numenta_detector.py``); the constant is
theirs, not fitted here. Both are ratios of the series' own values, so one threshold serves a CPU
percentage, a byte counter and a latency in seconds alike (shifting or rescaling a series changes
no score; tested).

* The extremes are learned online (``river.stats.Min``/``Max``, faster here than ``min``/``max``;
  ``bench/README.md``), and a record counts only once the extremes have held for ``record_warmup``
  values (the likelihood detector's own warm-up: its confidence reaches 1 after ``4 * warmup`` =
  120 values): a young series climbing its first daily cycle, or a slow trend, moves its extremes
  every few values, and those records are its shape, not news.
* A record is scored once: the extremes move with it, so a climb alerts again only after another
  5 % of the span. It follows the likelihood's ``direction`` (a new low latency is no incident).
* Gaps (missing, NaN) are skipped as by the likelihood detector; state stays a few KB a series.

Measured with ``forewarn bench nab --protocol online`` (``bench/README.md``): more than the likelihood
detector alone on all of NAB and on the tuning files, but less on the held-out files, and the same
with every value scaled by 1,000 and shifted by 10^6. A small gain, not the contextual detector's.
"""

from __future__ import annotations

from collections.abc import Mapping

from river import stats

from forewarn.models.base import AnomalyScore, Snapshottable
from forewarn.models.likelihood import LikelihoodDetector
from forewarn.models.river_compat import RiverDetector


class RecordLikelihoodDetector(Snapshottable, RiverDetector):
    """``LikelihoodDetector`` whose score is 1.0 on a new record; score in [0, 1], >= 0.5 is an alert."""

    def __init__(
        self,
        feature: str | None = None,
        record_tolerance: float | None = 0.05,
        record_warmup: int = 120,
        direction: str = "both",
        likelihood: LikelihoodDetector | None = None,
    ) -> None:
        if record_tolerance is not None and not record_tolerance >= 0:
            raise ValueError(f"record_tolerance must be >= 0 or None, got {record_tolerance}")
        if record_warmup < 1:
            raise ValueError(f"record_warmup must be >= 1, got {record_warmup}")
        self.feature = feature
        self.record_tolerance = record_tolerance
        self.record_warmup = record_warmup
        self.direction = direction
        # a lone spike is not forgotten here: the record rule scores such values (bench/README.md)
        self.likelihood = (
            likelihood
            if likelihood is not None
            else LikelihoodDetector(feature=feature, direction=direction, forget_spikes=False)
        )
        self.seen_min, self.seen_max = stats.Min(), stats.Max()
        self.n = 0  # values learned
        self.since_record = 0  # values learned since the extremes last moved

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(feature={self.feature!r}, record_tolerance={self.record_tolerance}, "
            f"record_warmup={self.record_warmup}, direction={self.direction!r}, "
            f"likelihood={self.likelihood!r})"
        )

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        base = self.likelihood.score_one(x, t)
        value = self._value(x)
        if value is None or not self._is_record(value):
            return base
        return AnomalyScore(
            score=1.0,
            confidence=base.confidence,
            drivers={self.feature or "value": 1.0},
            expected=base.expected,
        )

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        self.likelihood.learn_one(x, t)
        value = self._value(x)
        if value is None:
            return
        self.n += 1
        moved = not self.seen_min.get() <= value <= self.seen_max.get()
        self.since_record = 0 if moved else self.since_record + 1
        self.seen_min.update(value)
        self.seen_max.update(value)

    def explain_one(self, x: Mapping[str, float]) -> dict[str, float]:
        """What drove the score (read-only): the extremes learned and whether this is a record."""
        value = self._value(x)
        if value is None or not self.n:
            return {}
        return {
            "seen_min": self.seen_min.get(),
            "seen_max": self.seen_max.get(),
            "new_record": float(self._is_record(value)),
        }

    def _is_record(self, value: float) -> bool:
        """Beyond the extremes learned so far by ``record_tolerance`` of their span (after warm-up)."""
        if self.record_tolerance is None or not self._armed():
            return False
        lo, hi = self.seen_min.get(), self.seen_max.get()
        if not hi > lo:
            return False
        margin = self.record_tolerance * (hi - lo)
        if value > hi + margin:
            return self.direction != "down"
        if value < lo - margin:
            return self.direction != "up"
        return False

    def _armed(self) -> bool:
        """The extremes held for ``record_warmup`` values: only then is breaking them news.

        Why: a young gauge climbing its first daily cycle, or a slow trend, moves its extremes on
        every few values; those records are the series' shape, not an incident. Once the extremes
        have held as long as the likelihood's warm-up, a break is news. No clock needed.
        """
        return self.n > self.record_warmup and self.since_record >= self.record_warmup


__all__ = ["RecordLikelihoodDetector"]
