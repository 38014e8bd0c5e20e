"""River's anomaly-detector interface for every forewarn detector: one mixin, no per-class copies.

Why: River's tooling (``StandardScaler() | detector``, ``compose.Pipeline``, ``anomaly.QuantileFilter``,
its metrics) takes a ``river.base.AnomalyDetector``: ``learn_one(x)`` and ``score_one(x) -> float``
over a feature dict, score before learn. Our detectors already have those verbs over a dict, with an
optional event time ``t`` that River pipelines route to steps declaring it, and ``score_one`` returns
an :class:`AnomalyScore`, which is a float. So the mixin adds no second code path: it declares the
River base class (``isinstance``, ``clone``, pipelines) and holds the one rule for which feature of
the dict a univariate detector reads. The dataflow calls the same methods as before, at the same
speed (measured in ``bench/README.md``, "River interface").
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import TYPE_CHECKING

from forewarn.models.base import AnomalyScore, as_finite

if TYPE_CHECKING:
    # mypy checks an override against every base, and River types x as dict[Hashable, Any]; ours
    # narrow it to what the detectors read and add t, which no River caller minds. So mypy sees
    # River's Estimator (pipelines, clone) plus the verbs declared below.
    from river.base import Estimator as _RiverAnomalyDetector
else:
    from river.base import AnomalyDetector as _RiverAnomalyDetector

__all__ = ["RiverDetector"]


class RiverDetector(_RiverAnomalyDetector):
    """Mixin: a forewarn detector is also a River ``AnomalyDetector``.

    River declares ``score_one(x) -> float`` and ``learn_one(x)``; ours add the optional ``t`` and
    return an ``AnomalyScore`` (a float), so they are compatible for every River caller.
    """

    # The input a univariate detector reads from ``x``; None takes the first value. Detectors that
    # take it as a constructor argument (River style) set it per instance.
    feature: str | None = None

    @abc.abstractmethod
    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        """The score of ``x`` against the state before learning it (a float in [0, 1])."""

    @abc.abstractmethod
    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        """Learn ``x``; after ``score_one`` on the same event (River's and the dataflow's order)."""

    def _value(self, x: Mapping[str, float]) -> float | None:
        """The value of ``feature`` in ``x`` (or its first value), None when missing or not finite."""
        if self.feature is not None:
            return as_finite(x.get(self.feature))
        for v in x.values():
            return as_finite(v)
        return None
