"""The contracts every forewarn model follows.

Why Protocols: the dataflow, the API and the healing policies depend on these verbs only, so a
model can be swapped (or benchmarked against another) without touching the wiring. The verbs follow
River: score-then-learn on every event, no clock reads, no I/O; time is passed in as epoch seconds.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Protocol, Self, runtime_checkable

# bound once: the score is built on every event, and a global lookup of ``object`` costs ~15 % of it
_set_frozen = object.__setattr__


@dataclass(frozen=True, slots=True, init=False)
class AnomalyScore(float):
    """How unusual one observation is, in [0, 1], and which inputs drove it.

    ``drivers`` maps input name to its share of the score (non-negative); ``confidence`` in [0, 1]
    is low during warm-up and on sparse data, so policies can threshold it.

    Why a float: River's anomaly detectors return the score as a float from ``score_one``, ours
    return this record; being a float whose value is ``score``, one ``score_one`` serves both
    contracts (River pipelines, filters and metrics read the number, the dataflow the fields).
    Equality stays field by field, as before.
    """

    score: float
    confidence: float
    drivers: Mapping[str, float]
    expected: float | None

    def __new__(
        cls,
        score: float,
        confidence: float,
        drivers: Mapping[str, float] | None = None,
        expected: float | None = None,
    ) -> Self:
        self = float.__new__(cls, score)
        _set_frozen(self, "score", score)
        _set_frozen(self, "confidence", confidence)
        _set_frozen(self, "drivers", {} if drivers is None else drivers)
        _set_frozen(self, "expected", expected)
        return self

    def __reduce__(self) -> tuple[type[Self], tuple[float, float, Mapping[str, float], float | None]]:
        return type(self), (self.score, self.confidence, self.drivers, self.expected)


@dataclass(frozen=True, slots=True)
class Forecast:
    """A forecast of one series ``horizon_seconds`` ahead of the last observation."""

    horizon_seconds: float
    point: float
    lower: float
    upper: float
    interval_level: float
    breach_probability: float | None = None  # P(value crosses threshold within the horizon)
    time_to_exhaustion_seconds: float | None = None  # None: no crossing expected at current trend
    time_to_exhaustion_lower: float | None = None
    time_to_exhaustion_upper: float | None = None
    confidence: float = 0.0
    # the rate (units per second) the time to exhaustion assumes; with a threshold only
    rate_per_second: float | None = None


@runtime_checkable
class Detector(Protocol):
    """Scores an observation (a mapping of named features) before learning from it."""

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore: ...

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None: ...


@runtime_checkable
class Forecaster(Protocol):
    """Learns a univariate series and forecasts it, with intervals and breach odds."""

    def learn_one(self, y: float, t: float) -> None: ...

    def forecast(self, horizon_seconds: float, threshold: float | None = None) -> Forecast: ...


@runtime_checkable
class UsesPriors(Protocol):
    """A detector that can take a benchmark's per-series hints before its first event.

    Why: the NAB protocol gives every detector the file's value range and probationary length (the
    published scores assume them); ``forewarn bench nab --protocol nab`` passes them to detectors that
    implement this, and ``--protocol online`` withholds them.
    """

    def apply_priors(self, value_min: float, value_max: float, probation_rows: int) -> None: ...


class Snapshottable:
    """Mixin: a model's whole state is its attributes, so a snapshot is its pickle.

    Why pickle and not a hand-written dict: every attribute (hyperparameters and learned state) then
    round-trips exactly, including floats, and Bytewax recovery stores the same bytes. The size of
    ``snapshot()`` is what the check suite measures against the 20 KB per-series budget.
    """

    def snapshot(self) -> bytes:
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, blob: bytes) -> Self:
        model = pickle.loads(blob)
        if not isinstance(model, cls):
            raise TypeError(f"snapshot holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def score_learn(detector: Detector, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
    """Score ``x`` against the state before it, then learn it: one call when the detector fuses the two.

    Why: score and learn compute the same surprise; a detector's ``score_learn_one`` computes it once
    (the same numbers, tested), and the dataflow and ``forewarn bench nab`` both go through here.
    """
    fused = getattr(detector, "score_learn_one", None)
    if fused is not None:
        return fused(x, t)  # type: ignore[no-any-return]
    score = detector.score_one(x, t)
    detector.learn_one(x, t)
    return score


def as_finite(value: object) -> float | None:
    """The float in ``value``, or None when it is missing, non-numeric, NaN or infinite.

    Why: real telemetry has gaps (empty CSV cells, nulls in JSON); models skip them instead of crashing
    or poisoning their running statistics with NaN.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@cache
def normal_quantile(probability: float) -> float:
    """Inverse of the standard normal CDF by bisection (no scipy dependency for one number).

    Cached: every new detector asks it for the same few probabilities, and the 200 steps were most of
    a ``LikelihoodDetector``'s construction, paid once per series (bench/README.md).
    """
    p = min(max(probability, 1e-15), 1.0 - 1e-15)
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if 0.5 * math.erfc(-mid / math.sqrt(2.0)) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0
