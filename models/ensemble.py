"""Distance plus sequence: ``LikelihoodDetector`` and ``ContextDetector`` side by side, the stronger wins.

Why a max of the two: they see different anomalies. The likelihood detector flags values far from
the learned level and season; the contextual detector flags ordinary-sized values in a sequence it
has never seen. Taking the larger score (the contextual one weighted by ``context_weight`` < 1, so
it alerts only on clear novelty) keeps each detector's alert de-duplication and needs no shared
calibration. ``context_weight`` = 0.9 and ``alert_score`` (the NAB-optimal threshold of the unscaled
max, mapped to 0.5) were chosen on NAB with an earlier contextual detector and not tuned again;
unweighted (1.0) scores higher on the tuning files but lower on the held-out ones. Figures, and the
cost (the contextual detector's CPU and state), are in ``bench/README.md``.

It is the dataflow's default (``detector.model``): the best online NAB score here, also on the
held-out files and under gaps, within the default's speed and state budget since CAD's memory is C.
"""

from __future__ import annotations

from collections.abc import Mapping

from forewarn.models.alert_scale import rescale_to_alert
from forewarn.models.base import AnomalyScore, Snapshottable, UsesPriors, score_learn
from forewarn.models.cad import ContextDetector
from forewarn.models.likelihood import LikelihoodDetector
from forewarn.models.river_compat import RiverDetector


class LikelihoodContextDetector(Snapshottable, RiverDetector):
    """``max(likelihood, context_weight * context)`` per event; score in [0, 1].

    ``direction`` builds the default likelihood part; the likelihood part's direction rule
    (``LikelihoodDetector.benign``) then zeroes the contextual part too: with ``"up"`` a value below
    the expected one scores 0 from both, since the contextual part has no sense of direction and a
    latency that drops into an unseen pattern is not an incident.
    """

    def __init__(
        self,
        feature: str | None = None,
        context_weight: float = 0.9,
        alert_score: float = 0.685,
        likelihood: LikelihoodDetector | None = None,
        context: ContextDetector | None = None,
        direction: str = "both",
    ) -> None:
        if not 0.0 < alert_score < 1.0:
            raise ValueError(f"alert_score must be in (0, 1), got {alert_score}")
        if not 0.0 <= context_weight <= 1.0:
            raise ValueError(f"context_weight must be in [0, 1], got {context_weight}")
        self.feature = feature
        self.context_weight = context_weight
        self.alert_score = alert_score
        self.direction = direction
        # a lone spike is not forgotten here: CAD's bins carry the default past one (bench/README.md)
        self.likelihood = (
            likelihood
            if likelihood is not None
            else LikelihoodDetector(feature=feature, direction=direction, forget_spikes=False)
        )
        # no online record rule in the contextual part: the likelihood part scores such values already
        self.context = (
            context if context is not None else ContextDetector(feature=feature, online_record=False)
        )

    def apply_priors(self, value_min: float, value_max: float, probation_rows: int) -> None:
        """The NAB protocol's per-file hints, for the contextual part (the likelihood part takes none).

        Why: ``forewarn bench nab --protocol nab`` gives every detector that takes them the file's
        range and probationary length, as NAB does; without this the default scored the same under
        both protocols, so its NAB-protocol figure was not comparable with published ones. The
        dataflow never calls it (no range is known in advance). Must be called before the first value.
        """
        if isinstance(self.context, UsesPriors):
            self.context.apply_priors(value_min, value_max, probation_rows)

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update({"direction": "both", **state})  # snapshots from before ``direction``

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(context_weight={self.context_weight}, direction={self.direction!r}, "
            f"likelihood={self.likelihood!r}, context={self.context!r})"
        )

    def _combined(self, x: Mapping[str, float], a: AnomalyScore, b: AnomalyScore) -> AnomalyScore:
        context = self.context_weight * b.score
        if self._benign_side(x, a.expected):
            context = 0.0
        score = rescale_to_alert(max(a.score, context), self.alert_score)
        return AnomalyScore(
            score=score,
            confidence=min(a.confidence, b.confidence),
            drivers={self.feature or "value": score},
            expected=a.expected,
        )

    def _benign_side(self, x: Mapping[str, float], expected: float | None) -> bool:
        """The likelihood part's direction rule, applied to the contextual part too."""
        if expected is None:
            return False
        value = self._value(x)
        return value is not None and self.likelihood.benign(value, expected)

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        return self._combined(x, self.likelihood.score_one(x, t), self.context.score_one(x, t))

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        self.likelihood.learn_one(x, t)
        self.context.learn_one(x, t)
        self._follow_shift()

    def _follow_shift(self) -> None:
        """When the likelihood part took in a new level, the contextual part refits its bins to it."""
        events = self.likelihood.take_shift()
        if events:
            self.context.refit_from(events)

    def score_learn_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        """``score_one`` then ``learn_one``, each part through its own fused step (tested equal).

        When both parts read this detector's feature and are past their start, they hand back plain
        numbers (``score_learn_value``) and only the combined score becomes an object.
        """
        likelihood, context = self.likelihood, self.context
        value = self._value(x)
        if (
            value is None
            or likelihood.n == 0
            or not context.ready
            or likelihood.feature != self.feature
            or context.feature != self.feature
            or type(likelihood) is not LikelihoodDetector
            or type(context) is not ContextDetector
        ):
            combined = self._combined(x, score_learn(likelihood, x, t), score_learn(context, x, t))
            self._follow_shift()
            return combined
        a_score, a_confidence, expected = likelihood.score_learn_value(value, t)
        b_score, b_confidence = context.score_learn_value(value)
        if likelihood.shift_events:
            self._follow_shift()
        weighted = 0.0 if likelihood.benign(value, expected) else self.context_weight * b_score
        score = rescale_to_alert(max(a_score, weighted), self.alert_score)
        return AnomalyScore(
            score=score,
            confidence=min(a_confidence, b_confidence),
            drivers={self.feature or "value": score},
            expected=expected,
        )
